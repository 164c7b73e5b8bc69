//! The one rounding rule for every reported carbon figure: half away from zero.
//!
//! PACT v3 and the GHG Protocol prescribe no rounding rule. tanso rounds every figure it
//! reports (composed PACT footprints, Scope 3 reports, KPI reports) half away from zero,
//! the rule of a spreadsheet's `ROUND` and of most accounting tools, so a figure checked by
//! hand or in a spreadsheet comes out the same; it is symmetric in sign, so a removal
//! (−0.125 → −0.13) rounds like an emission (0.125 → 0.13). Exact values are kept for
//! arithmetic: only the reported figure is rounded, once, through [`round`].

use rust_decimal::{Decimal, RoundingStrategy};

/// The rule's name, for documentation and reports.
pub const RULE: &str = "half away from zero";

/// Rounds `value` half away from zero to `dp` decimal places and pads it to exactly `dp`
/// places (`2.5` to 2 places is `2.50`), so a report shows a fixed scale.
pub fn round(value: Decimal, dp: u32) -> Decimal {
    let mut rounded = value.round_dp_with_strategy(dp, RoundingStrategy::MidpointAwayFromZero);
    rounded.rescale(dp);
    rounded
}

/// [`round`] without trailing zeros (`1.500` → `1.5`), for figures reported at their
/// natural scale (PACT decimals, report tables).
pub fn round_normalized(value: Decimal, dp: u32) -> Decimal {
    round(value, dp).normalize()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn half_away_from_zero_in_both_signs() {
        let cases = [
            ("0.125", 2, "0.13"),
            ("-0.125", 2, "-0.13"),
            ("62.125", 2, "62.13"),
            ("1.0005", 3, "1.001"),
            ("2.5", 0, "3"),
            ("-2.5", 0, "-3"),
            ("0.124999", 2, "0.12"),
            ("1.5", 2, "1.50"),
        ];
        for (value, dp, want) in cases {
            assert_eq!(round(d(value), dp).to_string(), want, "{value} to {dp}");
        }
        assert_eq!(round_normalized(d("1.2996"), 3).to_string(), "1.3");
    }
}
