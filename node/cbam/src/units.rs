//! Quantities with their unit in the type, so that t and t CO2e, MWh and TJ never mix.
//!
//! Every CBAM figure is one of these newtypes over an exact `Decimal`; the only way to
//! combine two is an operator defined below (`Tonnes × TjPerTonne = Terajoules`, and so
//! on), so an equation of Annex III that is wrong in its units does not compile.

use std::fmt;
use std::ops::{Add, AddAssign, Div, Mul, Sub};

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

macro_rules! quantity {
    ($(#[$doc:meta])* $name:ident, $unit:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(#[serde(with = "exact")] pub Decimal);

        impl $name {
            /// The unit's symbol.
            pub const UNIT: &'static str = $unit;

            /// The number, without its unit.
            pub fn value(self) -> Decimal {
                self.0
            }

            /// Zero.
            pub const ZERO: $name = $name(Decimal::ZERO);
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{} {}", self.0, $unit)
            }
        }

        impl Add for $name {
            type Output = $name;
            fn add(self, other: $name) -> $name {
                $name(self.0 + other.0)
            }
        }

        impl Sub for $name {
            type Output = $name;
            fn sub(self, other: $name) -> $name {
                $name(self.0 - other.0)
            }
        }

        impl AddAssign for $name {
            fn add_assign(&mut self, other: $name) {
                self.0 += other.0;
            }
        }

        impl std::iter::Sum for $name {
            fn sum<I: Iterator<Item = $name>>(iter: I) -> $name {
                iter.fold($name::ZERO, |a, b| a + b)
            }
        }
    };
}

quantity!(
    /// Mass of goods or materials, tonnes.
    Tonnes,
    "t"
);
quantity!(
    /// Emissions, tonnes of CO2 equivalent.
    TCo2e,
    "t CO2e"
);
quantity!(
    /// Specific embedded emissions: t CO2e per tonne of good.
    TCo2ePerTonne,
    "t CO2e/t"
);
quantity!(
    /// Mass of a precursor per tonne of good.
    TonnesPerTonne,
    "t/t"
);
quantity!(
    /// Electrical energy, megawatt hours.
    Mwh,
    "MWh"
);
quantity!(
    /// Specific electricity consumption: MWh per tonne of good.
    MwhPerTonne,
    "MWh/t"
);
quantity!(
    /// Emission factor of electricity: t CO2e per MWh.
    TCo2ePerMwh,
    "t CO2e/MWh"
);
quantity!(
    /// Energy (fuel input, heat, waste gas), terajoules.
    Terajoules,
    "TJ"
);
quantity!(
    /// Net calorific value: TJ per tonne of fuel.
    TjPerTonne,
    "TJ/t"
);
quantity!(
    /// Emission factor per energy: t CO2e per TJ.
    TCo2ePerTj,
    "t CO2e/TJ"
);
quantity!(
    /// Emission factor per mass of material: t CO2e per t.
    TCo2ePerTonneMaterial,
    "t CO2e/t material"
);
quantity!(
    /// Carbon content: t of carbon per t of material.
    CarbonPerTonne,
    "t C/t"
);
quantity!(
    /// A dimensionless factor (oxidation, conversion, share), 0 to 1.
    Fraction,
    ""
);
quantity!(
    /// A percentage, 0 to 100.
    Percent,
    "%"
);

impl Mul<TjPerTonne> for Tonnes {
    type Output = Terajoules;
    fn mul(self, ncv: TjPerTonne) -> Terajoules {
        Terajoules(self.0 * ncv.0)
    }
}

impl Mul<TCo2ePerTj> for Terajoules {
    type Output = TCo2e;
    fn mul(self, ef: TCo2ePerTj) -> TCo2e {
        TCo2e(self.0 * ef.0)
    }
}

impl Mul<TCo2ePerTonneMaterial> for Tonnes {
    type Output = TCo2e;
    fn mul(self, ef: TCo2ePerTonneMaterial) -> TCo2e {
        TCo2e(self.0 * ef.0)
    }
}

impl Mul<CarbonPerTonne> for Tonnes {
    /// Tonnes of carbon, kept as `Tonnes` of element C.
    type Output = Tonnes;
    fn mul(self, c: CarbonPerTonne) -> Tonnes {
        Tonnes(self.0 * c.0)
    }
}

impl Mul<TCo2ePerTonne> for Tonnes {
    type Output = TCo2e;
    fn mul(self, see: TCo2ePerTonne) -> TCo2e {
        TCo2e(self.0 * see.0)
    }
}

impl Mul<TCo2ePerMwh> for Mwh {
    type Output = TCo2e;
    fn mul(self, ef: TCo2ePerMwh) -> TCo2e {
        TCo2e(self.0 * ef.0)
    }
}

impl Mul<Fraction> for TCo2e {
    type Output = TCo2e;
    fn mul(self, f: Fraction) -> TCo2e {
        TCo2e(self.0 * f.0)
    }
}

impl Mul<Fraction> for Tonnes {
    type Output = Tonnes;
    fn mul(self, f: Fraction) -> Tonnes {
        Tonnes(self.0 * f.0)
    }
}

impl Mul<Fraction> for Terajoules {
    type Output = Terajoules;
    fn mul(self, f: Fraction) -> Terajoules {
        Terajoules(self.0 * f.0)
    }
}

impl Mul<Fraction> for Mwh {
    type Output = Mwh;
    fn mul(self, f: Fraction) -> Mwh {
        Mwh(self.0 * f.0)
    }
}

impl Mul<TCo2ePerTonne> for TonnesPerTonne {
    type Output = TCo2ePerTonne;
    fn mul(self, see: TCo2ePerTonne) -> TCo2ePerTonne {
        TCo2ePerTonne(self.0 * see.0)
    }
}

impl Div<Tonnes> for TCo2e {
    type Output = TCo2ePerTonne;
    fn div(self, mass: Tonnes) -> TCo2ePerTonne {
        TCo2ePerTonne(self.0 / mass.0)
    }
}

impl Div<Tonnes> for Tonnes {
    type Output = TonnesPerTonne;
    fn div(self, mass: Tonnes) -> TonnesPerTonne {
        TonnesPerTonne(self.0 / mass.0)
    }
}

impl Div<Tonnes> for Mwh {
    type Output = MwhPerTonne;
    fn div(self, mass: Tonnes) -> MwhPerTonne {
        MwhPerTonne(self.0 / mass.0)
    }
}

impl Mul<TCo2ePerMwh> for MwhPerTonne {
    type Output = TCo2ePerTonne;
    fn mul(self, ef: TCo2ePerMwh) -> TCo2ePerTonne {
        TCo2ePerTonne(self.0 * ef.0)
    }
}

/// Serde for exact decimals: written as strings; read from strings or integers, never from a
/// float, so no figure passes through binary floating point on its way in.
pub mod exact {
    use std::fmt;
    use std::str::FromStr;

    use rust_decimal::Decimal;
    use serde::{Deserializer, Serializer, de};

    pub fn serialize<S: Serializer>(value: &Decimal, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(value)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Decimal, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = Decimal;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a decimal number written as a string (\"0.45\") or an integer")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Decimal, E> {
                Decimal::from_str(v.trim())
                    .or_else(|_| Decimal::from_scientific(v.trim()))
                    .map_err(|_| E::custom(format!("`{v}` is not a decimal number")))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Decimal, E> {
                Ok(Decimal::from(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Decimal, E> {
                Ok(Decimal::from(v))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Decimal, E> {
                Err(E::custom(format!(
                    "{v} is a float: write decimals in quotes (\"{v}\") so they stay exact"
                )))
            }
        }
        d.deserialize_any(V)
    }
}
