//! The forecast behind the executive view: ordinary least squares with a linear trend and 11
//! monthly seasonal terms, prediction intervals and the probability that a year's mean meets
//! a target, both from the Student t distribution with n − 13 degrees of freedom.
//!
//! Model (one row per month with a value): `y = b0 + b1·t + Σ_{j=2..12} s_j·[month = j] + e`,
//! `t` the months since the first value, January the reference month, `e` independent with
//! variance σ². Then (standard OLS, e.g. Montgomery, Peck & Vining, *Introduction to Linear
//! Regression Analysis*, 5th ed., §3.2 and §3.5):
//! - `β̂ = (XᵀX)⁻¹Xᵀy`, `σ̂² = RSS / (n − 13)`, `R² = 1 − RSS / TSS`;
//! - a new month `x₀`: `ŷ₀ = x₀ᵀβ̂`, 95 % prediction interval `ŷ₀ ± t(0.975, n−13)·σ̂·√(1 + x₀ᵀ(XᵀX)⁻¹x₀)`;
//! - the mean of k new months with mean row `x̄`: `x̄ᵀβ̂`, variance `σ̂²/k + x̄ᵀ(XᵀX)⁻¹x̄·σ̂²`, and
//!   `P(mean ≤ target) = T_{n−13}((target − x̄ᵀβ̂) / sd)`.
//!
//! Statistics are in `f64` (nalgebra for the normal equations, statrs for the t distribution);
//! the monitor converts the results back to `Decimal` with the one rounding rule.

use nalgebra::{DMatrix, DVector};
use statrs::distribution::{ContinuousCDF, StudentsT};

/// Fewest monthly values a forecast is made from: two full seasonal cycles.
pub const MIN_MONTHS: usize = 24;
/// Parameters of the model: intercept, trend and 11 seasonal terms.
pub const PARAMS: usize = 13;
/// The prediction interval's coverage, in percent.
pub const INTERVAL_PCT: u32 = 95;

/// A fitted model.
#[derive(Debug, Clone)]
pub struct Fit {
    /// Month ordinal (`year·12 + month − 1`) of the first value (`t = 0`).
    origin: i64,
    pub beta: DVector<f64>,
    xtx_inv: DMatrix<f64>,
    pub sigma2: f64,
    pub n: usize,
    pub r2: f64,
    t: StudentsT,
    t975: f64,
}

/// The design row of a month ordinal: `[1, t, [m = Feb], …, [m = Dec]]`.
fn row(origin: i64, month_index: i64) -> DVector<f64> {
    let mut x = DVector::zeros(PARAMS);
    x[0] = 1.0;
    x[1] = (month_index - origin) as f64;
    let calendar_month = month_index.rem_euclid(12); // 0 = January
    if calendar_month > 0 {
        x[1 + calendar_month as usize] = 1.0;
    }
    x
}

impl Fit {
    /// Fits the model to `(month ordinal, value)` points (any order, no duplicates).
    pub fn new(points: &[(i64, f64)]) -> Result<Fit, String> {
        let n = points.len();
        if n < MIN_MONTHS {
            return Err(format!(
                "needs at least {MIN_MONTHS} months of data, has {n}"
            ));
        }
        let origin = points.iter().map(|p| p.0).min().unwrap_or_default();
        let mut x = DMatrix::zeros(n, PARAMS);
        let mut y = DVector::zeros(n);
        for (i, (m, v)) in points.iter().enumerate() {
            x.set_row(i, &row(origin, *m).transpose());
            y[i] = *v;
        }
        let xt = x.transpose();
        let xtx_inv = (&xt * &x).try_inverse().ok_or_else(|| {
            "the months with data do not determine the trend and every calendar month".to_string()
        })?;
        let beta = &xtx_inv * (&xt * &y);
        let residuals = &y - &x * &beta;
        let rss = residuals.norm_squared();
        let mean = y.mean();
        let tss: f64 = y.iter().map(|v| (v - mean).powi(2)).sum();
        let df = (n - PARAMS) as f64;
        let t = StudentsT::new(0.0, 1.0, df).map_err(|e| format!("t distribution: {e}"))?;
        let t975 = t.inverse_cdf(0.5 + f64::from(INTERVAL_PCT) / 200.0);
        Ok(Fit {
            origin,
            beta,
            xtx_inv,
            sigma2: rss / df,
            n,
            r2: if tss > 0.0 { 1.0 - rss / tss } else { 1.0 },
            t,
            t975,
        })
    }

    /// Degrees of freedom of the residuals (`n − 13`).
    pub fn df(&self) -> usize {
        self.n - PARAMS
    }

    /// The point forecast of a month and its 95 % prediction interval `(ŷ, low, high)`.
    pub fn predict(&self, month_index: i64) -> (f64, f64, f64) {
        let x = row(self.origin, month_index);
        let y = x.dot(&self.beta);
        let leverage = x.dot(&(&self.xtx_inv * &x));
        let half = self.t975 * (self.sigma2 * (1.0 + leverage)).sqrt();
        (y, y - half, y + half)
    }

    /// The forecast mean of `months` and its standard error (for a mean of new observations:
    /// `σ̂²/k + x̄ᵀ(XᵀX)⁻¹x̄·σ̂²`).
    pub fn mean_of(&self, months: &[i64]) -> (f64, f64) {
        let k = months.len().max(1) as f64;
        let mut xbar = DVector::zeros(PARAMS);
        for m in months {
            xbar += row(self.origin, *m);
        }
        xbar /= k;
        let mean = xbar.dot(&self.beta);
        let leverage = xbar.dot(&(&self.xtx_inv * &xbar));
        (mean, (self.sigma2 / k + leverage * self.sigma2).sqrt())
    }

    /// The probability that the mean of `months` is at most `target` (`lower_is_better`) or at
    /// least `target`.
    pub fn probability(&self, months: &[i64], target: f64, lower_is_better: bool) -> f64 {
        let (mean, sd) = self.mean_of(months);
        let below = if sd > 0.0 {
            self.t.cdf((target - mean) / sd)
        } else if mean <= target {
            1.0
        } else {
            0.0
        };
        if lower_is_better { below } else { 1.0 - below }
    }
}
