//! PACT v3 ListFootprints filters: OR within a criterion, AND across, case-insensitive.

use chrono::{DateTime, Utc};

use crate::pact::model::{ProductFootprint, Status};

/// The PACT v3 query filters (`GET /3/footprints?productId=..&validOn=..`).
///
/// An empty list or `None` means "no constraint". `limit` is pagination, not a filter, and is
/// left to the caller.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FootprintFilter {
    /// Matches any of `productIds`.
    pub product_id: Vec<String>,
    /// Matches any of `companyIds`.
    pub company_id: Vec<String>,
    /// Matches `geographyRegionOrSubregion`, `geographyCountry` or `geographyCountrySubdivision`.
    pub geography: Vec<String>,
    /// Matches any of `productClassifications`.
    pub classification: Vec<String>,
    /// `validityPeriodStart <= v <= validityPeriodEnd`.
    pub valid_on: Option<DateTime<Utc>>,
    /// `validityPeriodStart > v`.
    pub valid_after: Option<DateTime<Utc>>,
    /// `validityPeriodEnd < v`.
    pub valid_before: Option<DateTime<Utc>>,
    /// Exact status; PACT includes deprecated footprints unless this is set.
    pub status: Option<StatusCriterion>,
}

/// The `status` criterion. A value PACT does not define is a filter that matches nothing, like
/// any other filter no footprint satisfies (an empty list, not an error: the PACT conformance
/// suite, test case 37, asks for that), while malformed syntax stays an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusCriterion {
    Is(Status),
    /// A status no footprint can have (the value as given).
    Unknown(String),
}

/// A query string that is not a valid PACT filter.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    /// A parameter PACT does not define and that lacks the `x-` custom prefix.
    #[error("unknown query parameter {0:?} (custom filters must start with x-)")]
    UnknownParameter(String),
    /// A parameter with an empty value.
    #[error("query parameter {0} has an empty value")]
    Empty(String),
    /// A single-valued parameter given more than once.
    #[error("query parameter {0} is given more than once")]
    Repeated(String),
    /// A datetime that is not RFC 3339.
    #[error("query parameter {name} must be an rfc 3339 datetime, found {value:?}")]
    Datetime { name: String, value: String },
}

impl FootprintFilter {
    /// Parses repeated query pairs. Array criteria may repeat; `validOn`, `validAfter`,
    /// `validBefore` and `status` may appear once. `limit` is skipped (pagination belongs to the
    /// caller) and `x-` custom parameters are ignored.
    pub fn parse_query(pairs: &[(String, String)]) -> Result<Self, FilterError> {
        let mut f = Self::default();
        for (name, value) in pairs {
            if name.starts_with("x-") || name == "limit" {
                continue;
            }
            let list = matches!(
                name.as_str(),
                "productId" | "companyId" | "geography" | "classification"
            );
            if value.trim().is_empty() {
                if list {
                    // An empty value of a list criterion asks for nothing in particular: no
                    // constraint (the conformance suite sends `classification=` when its
                    // sample footprint has none, and expects every footprint).
                    continue;
                }
                return Err(FilterError::Empty(name.clone()));
            }
            match name.as_str() {
                "productId" => f.product_id.push(value.clone()),
                "companyId" => f.company_id.push(value.clone()),
                "geography" => f.geography.push(value.clone()),
                "classification" => f.classification.push(value.clone()),
                "validOn" => set_once(&mut f.valid_on, name, parse_dt(name, value)?)?,
                "validAfter" => set_once(&mut f.valid_after, name, parse_dt(name, value)?)?,
                "validBefore" => set_once(&mut f.valid_before, name, parse_dt(name, value)?)?,
                "status" => {
                    let status = Status::ALL
                        .iter()
                        .copied()
                        .find(|s| s.as_str().eq_ignore_ascii_case(value))
                        .map_or_else(
                            || StatusCriterion::Unknown(value.clone()),
                            StatusCriterion::Is,
                        );
                    set_once(&mut f.status, name, status)?;
                }
                _ => return Err(FilterError::UnknownParameter(name.clone())),
            }
        }
        Ok(f)
    }

    /// Whether `fp` passes every criterion that is set.
    pub fn matches(&self, fp: &ProductFootprint) -> bool {
        let pcf = &fp.pcf;
        let classifications = fp.product_classifications.as_deref().unwrap_or_default();
        let geographies = [
            pcf.geography_region_or_subregion.as_deref(),
            pcf.geography_country.as_deref(),
            pcf.geography_country_subdivision.as_deref(),
        ];
        any_of(&self.product_id, fp.product_ids.iter().map(String::as_str))
            && any_of(&self.company_id, fp.company_ids.iter().map(String::as_str))
            && any_of(&self.geography, geographies.into_iter().flatten())
            && any_of(
                &self.classification,
                classifications.iter().map(String::as_str),
            )
            && self.status.as_ref().is_none_or(|s| match s {
                StatusCriterion::Is(status) => *status == fp.status,
                StatusCriterion::Unknown(_) => false,
            })
            && self.matches_validity(fp)
    }

    fn matches_validity(&self, fp: &ProductFootprint) -> bool {
        if self.valid_on.is_none() && self.valid_after.is_none() && self.valid_before.is_none() {
            return true;
        }
        // A footprint whose period cannot be determined cannot satisfy a validity criterion.
        let Some((start, end)) = fp.effective_validity() else {
            return false;
        };
        self.valid_on.is_none_or(|v| start <= v && v <= end)
            && self.valid_after.is_none_or(|v| start > v)
            && self.valid_before.is_none_or(|v| end < v)
    }
}

/// OR within a criterion: true when no values are wanted or any candidate equals one of them,
/// ignoring case.
fn any_of<'a>(wanted: &[String], mut candidates: impl Iterator<Item = &'a str>) -> bool {
    wanted.is_empty() || candidates.any(|c| wanted.iter().any(|w| w.eq_ignore_ascii_case(c)))
}

fn set_once<T>(slot: &mut Option<T>, name: &str, value: T) -> Result<(), FilterError> {
    if slot.is_some() {
        return Err(FilterError::Repeated(name.to_string()));
    }
    *slot = Some(value);
    Ok(())
}

/// An RFC 3339 datetime. A client that did not percent-encode a `+hh:mm` offset sends its
/// `+` as a space once the query is decoded: ` hh:mm` at the end is read as `+hh:mm` (a
/// space can stand nowhere else in a datetime with an offset, so nothing is misread).
fn parse_dt(name: &str, value: &str) -> Result<DateTime<Utc>, FilterError> {
    let parse = |v: &str| DateTime::parse_from_rfc3339(v).map(|d| d.with_timezone(&Utc));
    parse(value)
        .or_else(|e| {
            let cut = value
                .len()
                .checked_sub(6)
                .filter(|&i| value.is_char_boundary(i) && value[i..].starts_with(' '));
            match cut {
                Some(i) => parse(&format!("{}+{}", &value[..i], &value[i + 1..])),
                None => Err(e),
            }
        })
        .map_err(|_| FilterError::Datetime {
            name: name.to_string(),
            value: value.to_string(),
        })
}
