//! Typed units, explicit conversions and emission quantities that carry their unit.
//!
//! Factors and activity data arrive in kg and t, miles and km, short tons and tonnes.
//! Mixing them silently is the most common Scope 3 error (carbon.md §10.1), so every
//! quantity has a [`Unit`], every conversion goes through [`convert`] with an exact
//! constant, and emissions are an [`Emissions`] value that is kg inside and only
//! becomes tonnes through [`Emissions::tonnes`].

use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::iter::Sum;
use std::ops::{Add, AddAssign};
use thiserror::Error;

/// Errors from unit parsing and conversion.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum UnitError {
    #[error("unknown unit `{0}`")]
    Unknown(String),
    #[error("cannot convert {from} to {to}: different dimensions ({from_dim} vs {to_dim})")]
    Incompatible {
        from: Unit,
        to: Unit,
        from_dim: Dimension,
        to_dim: Dimension,
    },
}

/// Physical dimension of a unit; conversions only happen inside one dimension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Dimension {
    Mass,
    Distance,
    Freight,
    PassengerDistance,
    VehicleDistance,
    /// Energy on a common basis (MJ); net/gross calorific-value kWh are kept apart.
    Energy,
    EnergyNetCv,
    EnergyGrossCv,
    Volume,
    Area,
    Count,
    Time,
    RoomNight,
    FteHour,
    Data,
}

impl fmt::Display for Dimension {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self:?}")
    }
}

/// A unit of activity or of a factor's denominator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Unit {
    Kg,
    Tonne,
    ShortTon,
    Km,
    Mile,
    TonneKm,
    ShortTonMile,
    PassengerKm,
    PassengerMile,
    VehicleKm,
    VehicleMile,
    MJ,
    GJ,
    KWh,
    MWh,
    KWhNetCv,
    KWhGrossCv,
    Litre,
    CubicMetre,
    MillionLitre,
    SquareMetre,
    Piece,
    Hour,
    RoomNight,
    FteHour,
    MegabitSecond,
}

/// 1 short ton in tonnes (exact, US customary definition: 2,000 lb × 0.45359237 kg).
pub const SHORT_TON_IN_T: Decimal = dec!(0.90718474);
/// 1 international mile in km (exact).
pub const MILE_IN_KM: Decimal = dec!(1.609344);

impl Unit {
    /// Every unit, for documentation and tests.
    pub const ALL: [Unit; 26] = [
        Unit::Kg,
        Unit::Tonne,
        Unit::ShortTon,
        Unit::Km,
        Unit::Mile,
        Unit::TonneKm,
        Unit::ShortTonMile,
        Unit::PassengerKm,
        Unit::PassengerMile,
        Unit::VehicleKm,
        Unit::VehicleMile,
        Unit::MJ,
        Unit::GJ,
        Unit::KWh,
        Unit::MWh,
        Unit::KWhNetCv,
        Unit::KWhGrossCv,
        Unit::Litre,
        Unit::CubicMetre,
        Unit::MillionLitre,
        Unit::SquareMetre,
        Unit::Piece,
        Unit::Hour,
        Unit::RoomNight,
        Unit::FteHour,
        Unit::MegabitSecond,
    ];

    /// Canonical spelling used in CSVs and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Kg => "kg",
            Unit::Tonne => "tonne",
            Unit::ShortTon => "short-ton",
            Unit::Km => "km",
            Unit::Mile => "mile",
            Unit::TonneKm => "tonne.km",
            Unit::ShortTonMile => "short-ton.mile",
            Unit::PassengerKm => "passenger.km",
            Unit::PassengerMile => "passenger.mile",
            Unit::VehicleKm => "vehicle.km",
            Unit::VehicleMile => "vehicle.mile",
            Unit::MJ => "MJ",
            Unit::GJ => "GJ",
            Unit::KWh => "kWh",
            Unit::MWh => "MWh",
            Unit::KWhNetCv => "kWh-net-cv",
            Unit::KWhGrossCv => "kWh-gross-cv",
            Unit::Litre => "litre",
            Unit::CubicMetre => "m3",
            Unit::MillionLitre => "million-litre",
            Unit::SquareMetre => "m2",
            Unit::Piece => "piece",
            Unit::Hour => "hour",
            Unit::RoomNight => "room-night",
            Unit::FteHour => "fte-hour",
            Unit::MegabitSecond => "megabit second",
        }
    }

    /// Parses canonical spellings, common abbreviations and the PACT v3
    /// `declaredUnitOfMeasurement` names (case-insensitive).
    pub fn parse(s: &str) -> Result<Unit, UnitError> {
        // fast path for the spellings ledgers use most (no allocation)
        match s {
            "kg" | "kilogram" => return Ok(Unit::Kg),
            "t" | "tonne" => return Ok(Unit::Tonne),
            "piece" => return Ok(Unit::Piece),
            "km" => return Ok(Unit::Km),
            "kWh" => return Ok(Unit::KWh),
            "MWh" => return Ok(Unit::MWh),
            "litre" | "L" | "l" => return Ok(Unit::Litre),
            _ => {}
        }
        let l = s.trim().to_ascii_lowercase();
        let u = match l.as_str() {
            "kg" | "kilogram" | "kilograms" => Unit::Kg,
            "t" | "tonne" | "tonnes" | "metric ton" | "ton" => Unit::Tonne,
            "short-ton" | "short ton" | "short_ton" | "ston" => Unit::ShortTon,
            "km" | "kilometre" | "kilometer" => Unit::Km,
            "mile" | "miles" | "mi" => Unit::Mile,
            "tonne.km" | "tkm" | "t.km" | "t·km" | "ton kilometer" | "tonne-km" => Unit::TonneKm,
            "short-ton.mile" | "short ton-mile" | "short-ton-mile" => Unit::ShortTonMile,
            "passenger.km" | "pkm" | "p.km" | "p·km" | "passenger-km" => Unit::PassengerKm,
            "passenger.mile" | "passenger-mile" => Unit::PassengerMile,
            "vehicle.km" | "vkm" | "vehicle-km" => Unit::VehicleKm,
            "vehicle.mile" | "vehicle-mile" => Unit::VehicleMile,
            "mj" | "megajoule" => Unit::MJ,
            "gj" | "gigajoule" => Unit::GJ,
            "kwh" | "kilowatt hour" => Unit::KWh,
            "mwh" | "megawatt hour" => Unit::MWh,
            "kwh-net-cv" | "kwh (net cv)" => Unit::KWhNetCv,
            "kwh-gross-cv" | "kwh (gross cv)" => Unit::KWhGrossCv,
            "l" | "litre" | "litres" | "liter" | "liters" => Unit::Litre,
            "m3" | "cubic meter" | "cubic metre" | "cubic metres" => Unit::CubicMetre,
            "million-litre" | "million litres" => Unit::MillionLitre,
            "m2" | "square meter" | "square metre" => Unit::SquareMetre,
            "piece" | "pieces" | "pcs" | "unit" | "units" => Unit::Piece,
            "hour" | "h" => Unit::Hour,
            "room-night" | "room per night" => Unit::RoomNight,
            "fte-hour" => Unit::FteHour,
            "megabit second" => Unit::MegabitSecond,
            _ => return Err(UnitError::Unknown(s.to_string())),
        };
        Ok(u)
    }

    /// The PACT v3 `declaredUnitOfMeasurement` name, where PACT has one.
    pub fn pact_name(self) -> Option<&'static str> {
        Some(match self {
            Unit::Litre => "liter",
            Unit::Kg => "kilogram",
            Unit::CubicMetre => "cubic meter",
            Unit::KWh => "kilowatt hour",
            Unit::MJ => "megajoule",
            Unit::TonneKm => "ton kilometer",
            Unit::SquareMetre => "square meter",
            Unit::Piece => "piece",
            Unit::Hour => "hour",
            Unit::MegabitSecond => "megabit second",
            _ => return None,
        })
    }

    pub fn dimension(self) -> Dimension {
        self.base().0
    }

    /// Dimension and size in that dimension's base unit. All constants are exact decimals.
    fn base(self) -> (Dimension, Decimal) {
        use Dimension as D;
        match self {
            Unit::Kg => (D::Mass, Decimal::ONE),
            Unit::Tonne => (D::Mass, dec!(1000)),
            Unit::ShortTon => (D::Mass, dec!(907.18474)),
            Unit::Km => (D::Distance, Decimal::ONE),
            Unit::Mile => (D::Distance, MILE_IN_KM),
            Unit::TonneKm => (D::Freight, Decimal::ONE),
            Unit::ShortTonMile => (D::Freight, SHORT_TON_IN_T * MILE_IN_KM),
            Unit::PassengerKm => (D::PassengerDistance, Decimal::ONE),
            Unit::PassengerMile => (D::PassengerDistance, MILE_IN_KM),
            Unit::VehicleKm => (D::VehicleDistance, Decimal::ONE),
            Unit::VehicleMile => (D::VehicleDistance, MILE_IN_KM),
            Unit::MJ => (D::Energy, Decimal::ONE),
            Unit::GJ => (D::Energy, dec!(1000)),
            Unit::KWh => (D::Energy, dec!(3.6)),
            Unit::MWh => (D::Energy, dec!(3600)),
            Unit::KWhNetCv => (D::EnergyNetCv, Decimal::ONE),
            Unit::KWhGrossCv => (D::EnergyGrossCv, Decimal::ONE),
            Unit::Litre => (D::Volume, Decimal::ONE),
            Unit::CubicMetre => (D::Volume, dec!(1000)),
            Unit::MillionLitre => (D::Volume, dec!(1000000)),
            Unit::SquareMetre => (D::Area, Decimal::ONE),
            Unit::Piece => (D::Count, Decimal::ONE),
            Unit::Hour => (D::Time, Decimal::ONE),
            Unit::RoomNight => (D::RoomNight, Decimal::ONE),
            Unit::FteHour => (D::FteHour, Decimal::ONE),
            Unit::MegabitSecond => (D::Data, Decimal::ONE),
        }
    }
}

impl fmt::Display for Unit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Converts `value` from one unit to another of the same dimension.
///
/// Returns the value unchanged (no arithmetic) when the units are equal, so exact
/// inputs stay exact. Conversions that need a division (e.g. t·km → short ton-mile)
/// are exact to rust_decimal's 28 significant digits.
pub fn convert(value: Decimal, from: Unit, to: Unit) -> Result<Decimal, UnitError> {
    if from == to {
        return Ok(value);
    }
    let (fd, ff) = from.base();
    let (td, tf) = to.base();
    if fd != td {
        return Err(UnitError::Incompatible {
            from,
            to,
            from_dim: fd,
            to_dim: td,
        });
    }
    Ok(value * ff / tf)
}

/// A number with its unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quantity {
    pub value: Decimal,
    pub unit: Unit,
}

impl Quantity {
    pub fn new(value: Decimal, unit: Unit) -> Self {
        Self { value, unit }
    }

    pub fn to(self, unit: Unit) -> Result<Decimal, UnitError> {
        convert(self.value, self.unit, unit)
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.value.normalize(), self.unit)
    }
}

/// Numerator of an emission factor: kg or t CO2e.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Co2eUnit {
    #[serde(rename = "kgCO2e")]
    Kg,
    #[serde(rename = "tCO2e")]
    Tonne,
}

impl Co2eUnit {
    pub fn parse(s: &str) -> Option<Co2eUnit> {
        match s.trim().to_ascii_lowercase().as_str() {
            "kgco2e" | "kg co2e" => Some(Co2eUnit::Kg),
            "tco2e" | "t co2e" => Some(Co2eUnit::Tonne),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Co2eUnit::Kg => "kgCO2e",
            Co2eUnit::Tonne => "tCO2e",
        }
    }

    /// Emissions from a factor value expressed in this numerator times an activity amount.
    pub fn emissions(self, amount: Decimal) -> Emissions {
        match self {
            Co2eUnit::Kg => Emissions::from_kg(amount),
            Co2eUnit::Tonne => Emissions::from_tonnes(amount),
        }
    }
}

/// An amount of CO2e. Stored in kg; tonnes only through [`Emissions::tonnes`], so a
/// kg figure can never be added to a tonne figure by accident.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Emissions {
    kg: Decimal,
}

impl Emissions {
    pub const ZERO: Emissions = Emissions { kg: Decimal::ZERO };

    pub fn from_kg(kg: Decimal) -> Self {
        Self { kg }
    }

    pub fn from_tonnes(t: Decimal) -> Self {
        Self { kg: t * dec!(1000) }
    }

    pub fn kg(self) -> Decimal {
        self.kg
    }

    pub fn tonnes(self) -> Decimal {
        self.kg / dec!(1000)
    }

    pub fn is_zero(self) -> bool {
        self.kg.is_zero()
    }

    /// Scales by a dimensionless ratio (e.g. an amortisation share).
    pub fn scale(self, ratio: Decimal) -> Self {
        Self {
            kg: self.kg * ratio,
        }
    }
}

impl Add for Emissions {
    type Output = Emissions;
    fn add(self, o: Emissions) -> Emissions {
        Emissions { kg: self.kg + o.kg }
    }
}

impl AddAssign for Emissions {
    fn add_assign(&mut self, o: Emissions) {
        self.kg += o.kg;
    }
}

impl Sum for Emissions {
    fn sum<I: Iterator<Item = Emissions>>(iter: I) -> Emissions {
        iter.fold(Emissions::ZERO, |a, b| a + b)
    }
}

impl fmt::Display for Emissions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} kgCO2e", self.kg.normalize())
    }
}

/// Serialised as `{"kg": "…", "t": "…"}` with decimal strings, so JSON readers see both.
impl Serialize for Emissions {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Emissions", 2)?;
        st.serialize_field("kg", &self.kg.normalize().to_string())?;
        st.serialize_field("t", &self.tonnes().normalize().to_string())?;
        st.end()
    }
}
