//! Specific embedded emissions from an installation's monitoring data, per Implementing
//! Regulation (EU) 2023/1773, Annex III (and, for the definitive period, the same equations
//! as we read them; see the README's CBAM section for what could not be confirmed).
//!
//! For each production process *p* with goods of one aggregated category:
//!
//! - `DirEm_p`: the source streams attributed to it (Annex III section B): a fuel is
//!   `AD × NCV × EF × OxF`, a process material `AD × EF × ConvF`, a mass-balance stream
//!   `f × AD × C` with `f = 3.664 t CO2/t C` (negative for outputs), a measured stream its
//!   measured annual emissions; a stream may be split between processes by share.
//! - `AttrEm_dir = DirEm + Em_H,imp − Em_H,exp + WG_corr,imp − WG_corr,exp` (section F.1),
//!   with `Em_H = Q × EF_H` and `WG_corr,imp = Q_WG × EF_NG`, `WG_corr,exp = Q_WG × EF_NG ×
//!   Corr_η` (energy content `Q_WG = V × NCV` in TJ).
//! - `AttrEm_indir = E_el × EF_el` (section D): consumed electricity, never without a factor.
//! - `SEE_dir = (AttrEm_dir + Σ M_i × SEE_i,dir) / AL` and likewise indirect (section F.2),
//!   where `AL` is the process's production in the period and `M_i` the mass of precursor
//!   *i* consumed; a precursor's SEE comes from a process of the same installation, a
//!   received (signature-verified) record, values communicated by its producer, or the
//!   default value for its CN code and origin — the fallback recorded on the figure.
//!
//! Figures stay exact until the record, where each is rounded once (`SEE_DP` places,
//! [`tanso_model::rounding`]'s rule).

use std::collections::{BTreeMap, HashMap};

use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde::Deserialize;
use tanso_model::rounding;

use crate::CbamError;
use crate::cn::{Category, CnCode};
use crate::defaults::DefaultValues;
use crate::record::{
    CarbonPrice, CbamRecord, Country, ElectricityUse, Figure, Installation, Period, PrecursorUse,
    Qualifying, RECORD_VERSION, SEE_DP, ValueKind, record_id,
};
use crate::units::{
    CarbonPerTonne, Fraction, Mwh, TCo2e, TCo2ePerMwh, TCo2ePerTj, TCo2ePerTonne,
    TCo2ePerTonneMaterial, Terajoules, TjPerTonne, Tonnes,
};

/// Ratio of the molar masses of CO2 and C, t CO2 per t C (2023/1773 Annex III, section
/// B.3.2, mass balance: `f = 3.664`).
pub const F_CO2_PER_C: Decimal = dec!(3.664);

/// Emission factor of natural gas used to value waste gases, t CO2/TJ (2023/1773 Annex
/// III section F.1, `EF_NG`, the IPCC 2006 default for natural gas).
pub const EF_NATURAL_GAS: Decimal = dec!(56.1);

/// Reference efficiency of electricity production from waste gas, `η_WG` (2023/1773
/// Annex III section F.1: `Corr_η = η_WG / η_NG`).
pub const ETA_WASTE_GAS: Decimal = dec!(0.35);

/// Reference efficiency of electricity production from natural gas, `η_NG` (same section).
pub const ETA_NATURAL_GAS: Decimal = dec!(0.525);

/// The texts the figures follow, written on every record.
pub const BASIS: &str = "Regulation (EU) 2023/956 as amended by Regulation (EU) 2025/2083; \
Implementing Regulation (EU) 2023/1773 Annex III (calculation) and Annex IV (communication)";

/// An installation's monitoring data for one reporting period.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Monitoring {
    pub installation: Installation,
    pub period: Period,
    #[serde(default)]
    pub source_streams: Vec<SourceStream>,
    pub processes: Vec<Process>,
}

/// How a source stream's emissions are determined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StreamKind {
    /// Calculation-based, combustion: `AD × NCV × EF × OxF`.
    Fuel,
    /// Calculation-based, process emissions: `AD × EF × ConvF`.
    Material,
    /// Mass balance: `f × AD × C`, negative for an output.
    MassBalance,
    /// Measurement-based: the measured annual emissions.
    Measured,
}

/// Input or output of a mass-balance stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Input,
    Output,
}

/// A fuel, material or measured emission source of the installation.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SourceStream {
    pub name: String,
    pub kind: StreamKind,
    /// Activity data: tonnes of fuel or material in the period.
    #[serde(default)]
    pub activity: Option<Tonnes>,
    /// Net calorific value (fuels).
    #[serde(default)]
    pub ncv: Option<TjPerTonne>,
    /// Emission factor: t CO2/TJ for a fuel.
    #[serde(default)]
    pub fuel_factor: Option<TCo2ePerTj>,
    /// Emission factor: t CO2/t for a material.
    #[serde(default)]
    pub material_factor: Option<TCo2ePerTonneMaterial>,
    /// Oxidation (fuel) or conversion (material) factor; 1 when not given.
    #[serde(default)]
    pub factor: Option<Fraction>,
    /// Carbon content, t C/t (mass balance).
    #[serde(default)]
    pub carbon_content: Option<CarbonPerTonne>,
    #[serde(default)]
    pub direction: Option<Direction>,
    /// Measured annual emissions (measurement-based).
    #[serde(default)]
    pub emissions: Option<TCo2e>,
    /// Where the factors or measurements come from.
    pub source: String,
}

/// A share of a source stream attributed to a process.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StreamShare {
    pub name: String,
    #[serde(default)]
    pub share: Option<Fraction>,
}

/// A good produced by a process in the period.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Output {
    pub cn_code: CnCode,
    pub produced: Tonnes,
    /// The PACT footprint of this product, where one exists.
    #[serde(default)]
    pub footprint_id: Option<String>,
}

/// Measurable heat imported into or exported from a process.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Heat {
    pub quantity: Terajoules,
    /// Emission factor of the heat's production.
    pub factor: TCo2ePerTj,
    pub source: String,
}

/// Electricity consumed by a process in the period.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Electricity {
    pub consumed: Mwh,
    #[serde(default)]
    pub factor: Option<TCo2ePerMwh>,
    #[serde(default)]
    pub source: Option<String>,
}

/// Where a precursor's specific embedded emissions come from.
#[derive(Debug, Clone)]
pub enum PrecursorFrom {
    /// Another process of this installation.
    Own { process: String },
    /// A record received from the producer (verified by signature before it is handed in);
    /// the default value when it has not arrived.
    Record { record_id: String, origin: Country },
    /// Values communicated by the producer outside tanso (e.g. an Excel template).
    Actual {
        origin: Country,
        direct: TCo2ePerTonne,
        indirect: TCo2ePerTonne,
        installation_id: Option<String>,
        source: String,
    },
    /// The default value for the CN code and origin.
    Default { origin: Country },
}

/// A precursor consumed by a process in the period.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "RawPrecursor")]
pub struct Precursor {
    pub cn_code: CnCode,
    /// Mass consumed in the period.
    pub mass: Tonnes,
    pub from: PrecursorFrom,
}

/// Where a precursor's figures come from, as written in the monitoring file.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum FromKind {
    Own,
    Record,
    Actual,
    Default,
}

/// A precursor as written: `from` says which of the optional fields are needed.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawPrecursor {
    cn_code: CnCode,
    mass: Tonnes,
    from: FromKind,
    #[serde(default)]
    process: Option<String>,
    #[serde(default)]
    record_id: Option<String>,
    #[serde(default)]
    origin: Option<Country>,
    #[serde(default)]
    direct: Option<TCo2ePerTonne>,
    #[serde(default)]
    indirect: Option<TCo2ePerTonne>,
    #[serde(default)]
    installation_id: Option<String>,
    #[serde(default)]
    source: Option<String>,
}

impl TryFrom<RawPrecursor> for Precursor {
    type Error = String;
    fn try_from(r: RawPrecursor) -> Result<Precursor, String> {
        fn need<T>(v: Option<T>, field: &str, from: &str) -> Result<T, String> {
            v.ok_or_else(|| format!("precursor from `{from}` needs `{field}`"))
        }
        let from = match r.from {
            FromKind::Own => PrecursorFrom::Own {
                process: need(r.process, "process", "own")?,
            },
            FromKind::Record => PrecursorFrom::Record {
                record_id: need(r.record_id, "recordId", "record")?,
                origin: need(r.origin, "origin", "record")?,
            },
            FromKind::Actual => PrecursorFrom::Actual {
                origin: need(r.origin, "origin", "actual")?,
                direct: need(r.direct, "direct", "actual")?,
                indirect: need(r.indirect, "indirect", "actual")?,
                installation_id: r.installation_id,
                source: need(r.source, "source", "actual")?,
            },
            FromKind::Default => PrecursorFrom::Default {
                origin: need(r.origin, "origin", "default")?,
            },
        };
        Ok(Precursor {
            cn_code: r.cn_code,
            mass: r.mass,
            from,
        })
    }
}

/// A production process: the system boundary of one aggregated goods category.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Process {
    pub name: String,
    #[serde(default)]
    pub route: Option<String>,
    pub goods: Vec<Output>,
    #[serde(default)]
    pub streams: Vec<StreamShare>,
    #[serde(default)]
    pub heat_imported: Option<Heat>,
    #[serde(default)]
    pub heat_exported: Option<Heat>,
    /// Energy content of waste gases consumed.
    #[serde(default)]
    pub waste_gas_imported: Option<Terajoules>,
    /// Energy content of waste gases exported.
    #[serde(default)]
    pub waste_gas_exported: Option<Terajoules>,
    #[serde(default)]
    pub electricity: Option<Electricity>,
    #[serde(default)]
    pub precursors: Vec<Precursor>,
    #[serde(default)]
    pub qualifying: Option<Qualifying>,
    #[serde(default)]
    pub carbon_prices: Vec<CarbonPrice>,
}

/// The exact result for one process, before rounding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessResult {
    pub name: String,
    pub category: Category,
    pub activity_level: Tonnes,
    pub dir_em: TCo2e,
    pub attr_em_direct: TCo2e,
    pub attr_em_indirect: TCo2e,
    pub precursors_direct: TCo2e,
    pub precursors_indirect: TCo2e,
    pub see_direct: TCo2ePerTonne,
    pub see_indirect: TCo2ePerTonne,
}

/// What [`calculate`] produces: one record per good and the exact per-process figures.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub records: Vec<CbamRecord>,
    pub processes: Vec<ProcessResult>,
}

/// Parses monitoring data written as TOML (every number a quoted decimal, so nothing
/// passes through a float); errors name the line and column.
pub fn parse_monitoring(text: &str, name: &str) -> Result<Monitoring, CbamError> {
    toml::from_str::<Monitoring>(text).map_err(|e| {
        let (line, column) = e.span().map(|s| line_col(text, s.start)).unwrap_or((0, 0));
        CbamError::File {
            file: name.to_string(),
            line,
            column,
            message: e.message().to_string(),
        }
    })
}

fn line_col(text: &str, offset: usize) -> (u64, u64) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() as u64 + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) as u64 + 1;
    (line, column)
}

/// Computes every good's specific embedded emissions. `received` are CBAM records from
/// precursor producers whose signatures the caller has verified; `defaults` is the
/// default-value table. Nothing is produced unless every figure can be.
pub fn calculate(
    m: &Monitoring,
    received: &[CbamRecord],
    defaults: &DefaultValues,
) -> Result<Outcome, CbamError> {
    m.installation.validate()?;
    m.period.validate()?;
    let streams = stream_emissions(m)?;
    check_shares(m)?;
    let order = process_order(m)?;
    let by_record: HashMap<&str, &CbamRecord> =
        received.iter().map(|r| (r.record_id.as_str(), r)).collect();

    let mut results: BTreeMap<String, (ProcessResult, ValueKind)> = BTreeMap::new();
    let mut records = Vec::new();
    for idx in order {
        let p = &m.processes[idx];
        let what = |field: &str| format!("processes[{}].{field}", p.name);
        if p.goods.is_empty() {
            return Err(CbamError::Invalid {
                field: what("goods"),
                value: String::new(),
                reason: "a process produces at least one good".into(),
            });
        }
        let category = p.goods[0].cn_code.category()?;
        let mut al = Tonnes::ZERO;
        for g in &p.goods {
            let c = g.cn_code.category()?;
            if c != category {
                return Err(CbamError::Invalid {
                    field: what("goods"),
                    value: g.cn_code.to_string(),
                    reason: format!(
                        "is {c}, the process's goods are {category}: one process, one aggregated category"
                    ),
                });
            }
            negative(
                &what(&format!("goods[{}].produced", g.cn_code)),
                g.produced.0,
            )?;
            al += g.produced;
        }
        if al.0.is_zero() {
            return Err(CbamError::Invalid {
                field: what("goods"),
                value: "0".into(),
                reason: "nothing produced in the period: no specific emissions".into(),
            });
        }
        if category == Category::Electricity {
            return Err(CbamError::Invalid {
                field: what("goods"),
                value: "27160000".into(),
                reason: "electricity as a good is not calculated by tanso".into(),
            });
        }
        if let Some(q) = &p.qualifying
            && q.category() != category
        {
            return Err(CbamError::Invalid {
                field: what("qualifying"),
                value: q.category().to_string(),
                reason: format!("the process's goods are {category}"),
            });
        }

        // DirEm: attributed shares of the installation's source streams.
        let mut dir_em = TCo2e::ZERO;
        let mut sources = Vec::new();
        for s in &p.streams {
            let (em, note) = streams
                .get(s.name.as_str())
                .ok_or_else(|| CbamError::Unknown {
                    what: "source stream".into(),
                    name: s.name.clone(),
                })?;
            let share = s.share.unwrap_or(Fraction(Decimal::ONE));
            dir_em += *em * share;
            sources.push(if share.0 == Decimal::ONE {
                note.clone()
            } else {
                format!("{note} × share {}", share.0)
            });
        }
        let mut attr = dir_em;
        if let Some(h) = &p.heat_imported {
            negative(&what("heatImported.quantity"), h.quantity.0)?;
            negative(&what("heatImported.factor"), h.factor.0)?;
            attr += h.quantity * h.factor;
            sources.push(format!(
                "heat imported: {} × {} ({})",
                h.quantity, h.factor, h.source
            ));
        }
        if let Some(h) = &p.heat_exported {
            negative(&what("heatExported.quantity"), h.quantity.0)?;
            negative(&what("heatExported.factor"), h.factor.0)?;
            attr = attr - h.quantity * h.factor;
            sources.push(format!(
                "heat exported: {} × {} ({})",
                h.quantity, h.factor, h.source
            ));
        }
        let ef_ng = TCo2ePerTj(EF_NATURAL_GAS);
        if let Some(q) = p.waste_gas_imported {
            negative(&what("wasteGasImported"), q.0)?;
            attr += q * ef_ng;
            sources.push(format!("waste gas imported: {q} × EF_NG {ef_ng}"));
        }
        if let Some(q) = p.waste_gas_exported {
            negative(&what("wasteGasExported"), q.0)?;
            // Multiplied before dividing, so 0.35 / 0.525 (= 2/3) adds no rounding.
            let energy = q * ef_ng;
            attr = attr - TCo2e(energy.0 * ETA_WASTE_GAS / ETA_NATURAL_GAS);
            sources.push(format!(
                "waste gas exported: {q} × EF_NG {ef_ng} × Corr_η 0.35/0.525"
            ));
        }

        // Indirect: consumed electricity, which needs a factor.
        let (attr_ind, electricity) = match &p.electricity {
            None => (TCo2e::ZERO, None),
            Some(e) if e.consumed.0.is_zero() && e.factor.is_none() => (TCo2e::ZERO, None),
            Some(e) => {
                negative(&what("electricity.consumed"), e.consumed.0)?;
                let (Some(factor), Some(source)) = (e.factor, e.source.as_ref()) else {
                    return Err(CbamError::NoElectricityFactor {
                        what: what("electricity"),
                    });
                };
                negative(&what("electricity.factor"), factor.0)?;
                (
                    e.consumed * factor,
                    Some((e.consumed, factor, source.clone())),
                )
            }
        };

        // Precursors by mass.
        let mut pre_dir = TCo2e::ZERO;
        let mut pre_ind = TCo2e::ZERO;
        let mut uses = Vec::new();
        for (i, pr) in p.precursors.iter().enumerate() {
            negative(&what(&format!("precursors[{i}].mass")), pr.mass.0)?;
            let pc = pr.cn_code.category()?;
            if !category.takes_precursor(pc) {
                return Err(CbamError::NotAPrecursor {
                    good: p.goods[0].cn_code.to_string(),
                    precursor: pr.cn_code.to_string(),
                });
            }
            let value = precursor_value(m, p, pr, &results, &by_record, defaults)?;
            pre_dir += pr.mass * value.direct.value;
            pre_ind += pr.mass * value.indirect.value;
            uses.push((pr.mass, value));
        }

        let see_dir = (attr + pre_dir) / al;
        let see_ind = (attr_ind + pre_ind) / al;
        if see_dir.0 < Decimal::ZERO {
            return Err(CbamError::Negative {
                field: what("specific direct embedded emissions"),
                value: see_dir.0.to_string(),
            });
        }
        let result = ProcessResult {
            name: p.name.clone(),
            category,
            activity_level: al,
            dir_em,
            attr_em_direct: attr,
            attr_em_indirect: attr_ind,
            precursors_direct: pre_dir,
            precursors_indirect: pre_ind,
            see_direct: see_dir,
            see_indirect: see_ind,
        };

        let method_dir = "2023/1773 Annex III F: SEE_dir = (AttrEm_dir + Σ M_i × SEE_i,dir) / AL; \
AttrEm_dir = DirEm + Em_H,imp − Em_H,exp + WG_corr,imp − WG_corr,exp";
        let method_ind =
            "2023/1773 Annex III D, F: SEE_ind = (E_el × EF_el + Σ M_i × SEE_i,ind) / AL";
        let source_dir = if sources.is_empty() {
            format!("no own emissions; AL {al}")
        } else {
            format!("{}; AL {al}", sources.join("; "))
        };
        let source_ind = match &electricity {
            Some((e, f, s)) => format!("{e} × {f} ({s}); AL {al}"),
            None => format!("no electricity consumed; AL {al}"),
        };
        for g in &p.goods {
            let precursors = uses
                .iter()
                .map(|(mass, v)| PrecursorUse {
                    mass_per_tonne: *mass / al,
                    ..v.clone()
                })
                .map(|mut u| {
                    u.mass_per_tonne.0 = rounding::round_normalized(u.mass_per_tonne.0, SEE_DP);
                    u
                })
                .collect();
            records.push(CbamRecord {
                version: RECORD_VERSION.into(),
                record_id: record_id(&m.installation, &g.cn_code, &m.period),
                installation: m.installation.clone(),
                period: m.period,
                cn_code: g.cn_code.clone(),
                category,
                process: p.name.clone(),
                route: p.route.clone(),
                quantity_produced: g.produced,
                direct: Figure {
                    value: round_see(see_dir),
                    kind: ValueKind::Actual,
                    method: method_dir.into(),
                    source: source_dir.clone(),
                },
                indirect: Figure {
                    value: round_see(see_ind),
                    kind: ValueKind::Actual,
                    method: method_ind.into(),
                    source: source_ind.clone(),
                },
                indirect_counted: !category.direct_only(),
                electricity: electricity.as_ref().map(|(e, f, s)| ElectricityUse {
                    consumed: {
                        let mut c = *e / al;
                        c.0 = rounding::round_normalized(c.0, SEE_DP);
                        c
                    },
                    factor: *f,
                    factor_source: s.clone(),
                    kind: ValueKind::Actual,
                }),
                precursors,
                qualifying: p.qualifying.clone(),
                carbon_prices: p.carbon_prices.clone(),
                footprint_id: g.footprint_id.clone(),
                basis: BASIS.into(),
                rounding: format!("{}, {SEE_DP} decimal places", rounding::RULE),
            });
        }
        results.insert(p.name.clone(), (result, ValueKind::Actual));
    }
    for r in &records {
        r.validate()?;
    }
    let processes = m
        .processes
        .iter()
        .filter_map(|p| results.get(&p.name).map(|(r, _)| r.clone()))
        .collect();
    Ok(Outcome { records, processes })
}

/// A reported specific figure, rounded once.
pub fn round_see(v: TCo2ePerTonne) -> TCo2ePerTonne {
    TCo2ePerTonne(rounding::round_normalized(v.0, SEE_DP))
}

fn negative(field: &str, v: Decimal) -> Result<(), CbamError> {
    if v < Decimal::ZERO {
        return Err(CbamError::Negative {
            field: field.into(),
            value: v.to_string(),
        });
    }
    Ok(())
}

/// Each source stream's emissions in the period and a note of how.
fn stream_emissions(m: &Monitoring) -> Result<HashMap<&str, (TCo2e, String)>, CbamError> {
    let mut out = HashMap::new();
    for s in &m.source_streams {
        let field = |f: &str| format!("sourceStreams[{}].{f}", s.name);
        let need = |f: &str| CbamError::Invalid {
            field: field(f),
            value: String::new(),
            reason: format!("required for a {:?} stream", s.kind).to_lowercase(),
        };
        if let Some(a) = s.activity {
            negative(&field("activity"), a.0)?;
        }
        let factor = s.factor.unwrap_or(Fraction(Decimal::ONE));
        if factor.0 < Decimal::ZERO || factor.0 > Decimal::ONE {
            return Err(CbamError::Invalid {
                field: field("factor"),
                value: factor.0.to_string(),
                reason: "an oxidation or conversion factor is within 0 and 1".into(),
            });
        }
        let (em, note) = match s.kind {
            StreamKind::Fuel => {
                let ad = s.activity.ok_or_else(|| need("activity"))?;
                let ncv = s.ncv.ok_or_else(|| need("ncv"))?;
                let ef = s.fuel_factor.ok_or_else(|| need("fuelFactor"))?;
                negative(&field("ncv"), ncv.0)?;
                negative(&field("fuelFactor"), ef.0)?;
                (
                    ad * ncv * ef * factor,
                    format!(
                        "{}: {ad} × NCV {ncv} × EF {ef} × OxF {} ({})",
                        s.name, factor.0, s.source
                    ),
                )
            }
            StreamKind::Material => {
                let ad = s.activity.ok_or_else(|| need("activity"))?;
                let ef = s.material_factor.ok_or_else(|| need("materialFactor"))?;
                negative(&field("materialFactor"), ef.0)?;
                (
                    ad * ef * factor,
                    format!(
                        "{}: {ad} × EF {ef} × ConvF {} ({})",
                        s.name, factor.0, s.source
                    ),
                )
            }
            StreamKind::MassBalance => {
                let ad = s.activity.ok_or_else(|| need("activity"))?;
                let c = s.carbon_content.ok_or_else(|| need("carbonContent"))?;
                negative(&field("carbonContent"), c.0)?;
                let dir = s.direction.ok_or_else(|| need("direction"))?;
                let carbon = ad * c;
                let sign = if dir == Direction::Output {
                    Decimal::NEGATIVE_ONE
                } else {
                    Decimal::ONE
                };
                (
                    TCo2e(F_CO2_PER_C * carbon.0 * sign),
                    format!(
                        "{}: {} 3.664 × {ad} × C {c} ({})",
                        s.name,
                        if sign.is_sign_negative() { "−" } else { "+" },
                        s.source
                    ),
                )
            }
            StreamKind::Measured => {
                let e = s.emissions.ok_or_else(|| need("emissions"))?;
                negative(&field("emissions"), e.0)?;
                (e, format!("{}: measured {e} ({})", s.name, s.source))
            }
        };
        if out.insert(s.name.as_str(), (em, note)).is_some() {
            return Err(CbamError::Invalid {
                field: "sourceStreams".into(),
                value: s.name.clone(),
                reason: "named twice".into(),
            });
        }
    }
    Ok(out)
}

/// A stream is attributed at most once in whole: its shares add up to 1 or less.
fn check_shares(m: &Monitoring) -> Result<(), CbamError> {
    let mut total: HashMap<&str, Decimal> = HashMap::new();
    for p in &m.processes {
        for s in &p.streams {
            let share = s.share.map_or(Decimal::ONE, |f| f.0);
            if share < Decimal::ZERO || share > Decimal::ONE {
                return Err(CbamError::Invalid {
                    field: format!("processes[{}].streams[{}].share", p.name, s.name),
                    value: share.to_string(),
                    reason: "a share is within 0 and 1".into(),
                });
            }
            *total.entry(s.name.as_str()).or_default() += share;
        }
    }
    for (name, t) in total {
        if t > Decimal::ONE {
            return Err(CbamError::Invalid {
                field: format!("source stream {name}"),
                value: t.to_string(),
                reason: "attributed more than once in whole (shares add up to more than 1)".into(),
            });
        }
    }
    Ok(())
}

/// Processes in an order where every own precursor's process comes first.
fn process_order(m: &Monitoring) -> Result<Vec<usize>, CbamError> {
    let index: HashMap<&str, usize> = m
        .processes
        .iter()
        .enumerate()
        .map(|(i, p)| (p.name.as_str(), i))
        .collect();
    if index.len() != m.processes.len() {
        return Err(CbamError::Invalid {
            field: "processes".into(),
            value: String::new(),
            reason: "two processes have the same name".into(),
        });
    }
    let mut state = vec![0u8; m.processes.len()]; // 0 new, 1 visiting, 2 done
    let mut order = Vec::new();
    fn visit(
        i: usize,
        m: &Monitoring,
        index: &HashMap<&str, usize>,
        state: &mut [u8],
        order: &mut Vec<usize>,
    ) -> Result<(), CbamError> {
        match state[i] {
            2 => return Ok(()),
            1 => return Err(CbamError::Cycle(m.processes[i].name.clone())),
            _ => {}
        }
        state[i] = 1;
        for pr in &m.processes[i].precursors {
            if let PrecursorFrom::Own { process } = &pr.from {
                let j = *index
                    .get(process.as_str())
                    .ok_or_else(|| CbamError::Unknown {
                        what: "process".into(),
                        name: process.clone(),
                    })?;
                visit(j, m, index, state, order)?;
            }
        }
        state[i] = 2;
        order.push(i);
        Ok(())
    }
    for i in 0..m.processes.len() {
        visit(i, m, &index, &mut state, &mut order)?;
    }
    Ok(order)
}

/// The specific embedded emissions of one precursor, as a record line.
fn precursor_value(
    m: &Monitoring,
    p: &Process,
    pr: &Precursor,
    results: &BTreeMap<String, (ProcessResult, ValueKind)>,
    by_record: &HashMap<&str, &CbamRecord>,
    defaults: &DefaultValues,
) -> Result<PrecursorUse, CbamError> {
    let line = |origin: &Country,
                direct: Figure,
                indirect: Figure,
                installation_id: Option<String>,
                record_id: Option<String>| PrecursorUse {
        cn_code: pr.cn_code.clone(),
        mass_per_tonne: Default::default(),
        direct,
        indirect,
        origin: origin.clone(),
        installation_id,
        record_id,
    };
    let from_default = |origin: &Country, why: &str| -> Result<PrecursorUse, CbamError> {
        let row = defaults
            .lookup(&pr.cn_code, origin.as_str())
            .ok_or_else(|| CbamError::NoPrecursorValue {
                process: p.name.clone(),
                cn_code: pr.cn_code.to_string(),
                origin: origin.to_string(),
                detail: why.to_string(),
            })?;
        let fig = |v: TCo2ePerTonne| Figure {
            value: v,
            kind: ValueKind::Default,
            method: "default value (Regulation (EU) 2023/956 Article 7(2), Annex IV)".into(),
            source: format!("{} ({} {}; {why})", row.source, row.cn_code, row.country),
        };
        Ok(line(origin, fig(row.direct), fig(row.indirect), None, None))
    };
    match &pr.from {
        PrecursorFrom::Own { process } => {
            let (r, _) = results.get(process).ok_or_else(|| CbamError::Unknown {
                what: "process".into(),
                name: process.clone(),
            })?;
            if !r.category.takes_precursor(pr.cn_code.category()?) {
                return Err(CbamError::NotAPrecursor {
                    good: p.name.clone(),
                    precursor: pr.cn_code.to_string(),
                });
            }
            let fig = |v: TCo2ePerTonne, what: &str| Figure {
                value: round_see(v),
                kind: ValueKind::Actual,
                method: format!("SEE_{what} of process `{process}` of this installation"),
                source: format!("monitoring data of {}", m.installation.name),
            };
            Ok(line(
                &m.installation.country,
                fig(r.see_direct, "dir"),
                fig(r.see_indirect, "ind"),
                m.installation.installation_id.clone(),
                None,
            ))
        }
        PrecursorFrom::Record { record_id, origin } => match by_record.get(record_id.as_str()) {
            Some(rec) => {
                if rec.cn_code != pr.cn_code {
                    return Err(CbamError::Invalid {
                        field: format!("processes[{}].precursors[{}]", p.name, pr.cn_code),
                        value: record_id.clone(),
                        reason: format!("the record is for CN code {}", rec.cn_code),
                    });
                }
                let fig = |f: &Figure| Figure {
                    value: f.value,
                    kind: f.kind,
                    method: format!("received record {record_id} (signature verified)"),
                    source: f.source.clone(),
                };
                Ok(line(
                    &rec.installation.country,
                    fig(&rec.direct),
                    fig(&rec.indirect),
                    rec.installation.installation_id.clone(),
                    Some(record_id.clone()),
                ))
            }
            None => from_default(origin, &format!("record {record_id} not received")),
        },
        PrecursorFrom::Actual {
            origin,
            direct,
            indirect,
            installation_id,
            source,
        } => {
            negative(
                &format!("processes[{}].precursors[{}].direct", p.name, pr.cn_code),
                direct.0,
            )?;
            negative(
                &format!("processes[{}].precursors[{}].indirect", p.name, pr.cn_code),
                indirect.0,
            )?;
            let fig = |v: TCo2ePerTonne| Figure {
                value: v,
                kind: ValueKind::Actual,
                method: "communicated by the precursor's producer".into(),
                source: source.clone(),
            };
            Ok(line(
                origin,
                fig(*direct),
                fig(*indirect),
                installation_id.clone(),
                None,
            ))
        }
        PrecursorFrom::Default { origin } => from_default(origin, "default chosen"),
    }
}
