//! Composing the company's own PACT v3 footprint from a bill of materials.
//!
//! PCF per declared unit = Σ (amountᵢ ÷ declaredUnitAmountᵢ) × PCFᵢ (supplier PCFs and
//! sub-BOMs) + Σ amount × database factor + own gate-to-gate + inbound transport.
//! primaryDataShare = Σ Eᵢ·pdsᵢ ÷ Σ Eᵢ and each DQR = Σ Eᵢ·dqrᵢ ÷ Σ Eᵢ (carbon.md §3):
//! supplier PDS for PACT inputs, 100 for own measured processes, 0 for database factors.
//! Sub-BOMs (multi-tier) are composed first, once, with cycle detection.

use crate::scope3::calc::{slug, weighted_dqi};
use crate::scope3::factors::{Factor, FactorLibrary, Per, RangeChoice, temporal_dqr};
use crate::scope3::supplier::SupplierIndex;
use crate::scope3::units::{Emissions, Unit, convert};
use crate::scope3::{Dqi, GwpSet};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Errors from loading BOMs and composing footprints.
#[derive(Debug, Error)]
pub enum ComposeError {
    #[error("cannot read bom {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("bom {path}: {source}")]
    Json {
        path: String,
        source: serde_json::Error,
    },
    #[error("bom entry `{0}` is defined twice")]
    Duplicate(String),
    #[error("bom entry `{0}` not found")]
    UnknownEntry(String),
    #[error("bom cycle: {0}")]
    Cycle(String),
    #[error("bom `{entry}`: {message}")]
    Input { entry: String, message: String },
}

fn dec_str<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Decimal, D::Error> {
    rust_decimal::serde::str::deserialize(d)
}

fn opt_dec_str<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Decimal>, D::Error> {
    rust_decimal::serde::str_option::deserialize(d)
}

/// One component line of a BOM, per declared unit amount of the product.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Component {
    #[serde(default)]
    pub description: Option<String>,
    /// A supplier product (matched in the inbox, case-insensitive).
    #[serde(default)]
    pub product_id: Option<String>,
    /// Another BOM entry (composed first).
    #[serde(default)]
    pub bom: Option<String>,
    /// A BOM file (relative to this file) whose entries are loaded too; with `bom`
    /// naming the entry, or that file's root.
    #[serde(default)]
    pub bom_file: Option<String>,
    /// A database factor (secondary data).
    #[serde(default)]
    pub factor_id: Option<String>,
    #[serde(deserialize_with = "dec_str")]
    pub amount: Decimal,
    pub unit: String,
}

/// Own gate-to-gate process emissions per declared unit amount: either measured
/// (`emissionsKg` + `primaryDataShare` + optional `dqi`) or `quantity` × `factorId`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OwnProcess {
    pub description: String,
    #[serde(default, deserialize_with = "opt_dec_str")]
    pub emissions_kg: Option<Decimal>,
    #[serde(default, deserialize_with = "opt_dec_str")]
    pub primary_data_share: Option<Decimal>,
    #[serde(default)]
    pub dqi: Option<Dqi>,
    #[serde(default, deserialize_with = "opt_dec_str")]
    pub quantity: Option<Decimal>,
    #[serde(default)]
    pub unit: Option<String>,
    #[serde(default)]
    pub factor_id: Option<String>,
}

/// Inbound transport per declared unit amount: mass × distance × mode factor.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Transport {
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub mode: Option<String>,
    #[serde(default)]
    pub factor_id: Option<String>,
    #[serde(deserialize_with = "dec_str")]
    pub mass_kg: Decimal,
    #[serde(deserialize_with = "dec_str")]
    pub distance_km: Decimal,
}

fn default_ipcc() -> Vec<String> {
    vec!["AR6".into()]
}
fn default_standards() -> Vec<String> {
    vec!["GHGP-Product".into(), "PACT-3.0".into()]
}

/// One product's BOM with the PACT metadata its footprint needs.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BomEntry {
    pub id: String,
    pub company_name: String,
    pub company_ids: Vec<String>,
    pub product_ids: Vec<String>,
    pub product_name_company: String,
    #[serde(default)]
    pub product_description: String,
    /// PACT unit name, e.g. `piece` or `kilogram`.
    pub declared_unit: String,
    #[serde(deserialize_with = "dec_str")]
    pub declared_unit_amount: Decimal,
    #[serde(deserialize_with = "dec_str")]
    pub product_mass_per_declared_unit: Decimal,
    pub reference_period_start: String,
    pub reference_period_end: String,
    #[serde(default)]
    pub geography_country: Option<String>,
    /// GWP sets of own data; inputs' known sets are added.
    #[serde(default = "default_ipcc")]
    pub ipcc_characterization_factors: Vec<String>,
    #[serde(default = "default_standards")]
    pub cross_sectoral_standards: Vec<String>,
    #[serde(default, deserialize_with = "opt_dec_str")]
    pub fossil_carbon_content: Option<Decimal>,
    #[serde(default, deserialize_with = "opt_dec_str")]
    pub exempted_emissions_percent: Option<Decimal>,
    #[serde(default)]
    pub packaging_emissions_included: bool,
    #[serde(default)]
    pub boundary_processes_description: Option<String>,
    #[serde(default)]
    pub comment: Option<String>,
    #[serde(default)]
    pub components: Vec<Component>,
    #[serde(default)]
    pub own_processes: Vec<OwnProcess>,
    #[serde(default)]
    pub inbound_transport: Vec<Transport>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct BomFile {
    #[serde(default)]
    root: Option<String>,
    entries: Vec<BomEntry>,
}

/// A loaded BOM: the root entry to compose plus every entry it may reference
/// (from this file and from referenced `bomFile`s).
#[derive(Debug, Clone)]
pub struct Bom {
    pub root: String,
    pub entries: HashMap<String, BomEntry>,
    /// Range end for database factors with a range (default low).
    pub range_choice: RangeChoice,
}

/// Loads a BOM JSON file and, recursively, the BOM files its components reference.
pub fn load_bom(path: &Path) -> Result<Bom, ComposeError> {
    let mut entries = HashMap::new();
    let mut seen = Vec::new();
    let root = load_file(path, &mut entries, &mut seen)?;
    Ok(Bom {
        root,
        entries,
        range_choice: RangeChoice::Low,
    })
}

/// Parses a BOM document from text; `bomFile` references are resolved against `base`.
pub fn parse_bom(text: &str, base: &Path) -> Result<Bom, ComposeError> {
    let mut entries = HashMap::new();
    let mut seen = Vec::new();
    let root = add_file(text, "<text>", base, &mut entries, &mut seen)?;
    Ok(Bom {
        root,
        entries,
        range_choice: RangeChoice::Low,
    })
}

fn load_file(
    path: &Path,
    entries: &mut HashMap<String, BomEntry>,
    seen: &mut Vec<PathBuf>,
) -> Result<String, ComposeError> {
    let text = std::fs::read_to_string(path).map_err(|source| ComposeError::Io {
        path: path.display().to_string(),
        source,
    })?;
    let canon = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    seen.push(canon);
    let base = path.parent().unwrap_or(Path::new("."));
    add_file(&text, &path.display().to_string(), base, entries, seen)
}

fn add_file(
    text: &str,
    name: &str,
    base: &Path,
    entries: &mut HashMap<String, BomEntry>,
    seen: &mut Vec<PathBuf>,
) -> Result<String, ComposeError> {
    let file: BomFile = serde_json::from_str(text).map_err(|source| ComposeError::Json {
        path: name.to_string(),
        source,
    })?;
    let root = match (&file.root, file.entries.first()) {
        (Some(r), _) => r.clone(),
        (None, Some(e)) => e.id.clone(),
        (None, None) => {
            return Err(ComposeError::Input {
                entry: name.into(),
                message: "no entries".into(),
            });
        }
    };
    let mut refs = Vec::new();
    for mut e in file.entries {
        for c in &mut e.components {
            if let Some(f) = &c.bom_file {
                let p = base.join(f);
                let canon = p.canonicalize().unwrap_or_else(|_| p.clone());
                let sub_root = if seen.contains(&canon) {
                    None
                } else {
                    Some(load_file(&p, entries, seen)?)
                };
                if c.bom.is_none() {
                    match sub_root {
                        Some(r) => c.bom = Some(r),
                        None => refs.push((e.id.clone(), f.clone())),
                    }
                }
            }
        }
        if entries.contains_key(&e.id) {
            return Err(ComposeError::Duplicate(e.id));
        }
        entries.insert(e.id.clone(), e);
    }
    if let Some((entry, f)) = refs.into_iter().next() {
        return Err(ComposeError::Input {
            entry,
            message: format!("bomFile `{f}` is already loaded: name its entry with `bom`"),
        });
    }
    Ok(root)
}

/// One input of a composed footprint.
#[derive(Debug, Clone, Serialize)]
pub struct ComposedInput {
    /// `supplier-pcf`, `sub-bom`, `database-factor`, `own-process` or `inbound-transport`.
    pub kind: &'static str,
    pub reference: String,
    pub description: String,
    pub amount: Decimal,
    pub unit: String,
    pub emissions: Emissions,
    /// Percent.
    pub primary_data_share: Decimal,
    pub dqi: Dqi,
    pub note: Option<String>,
}

/// A composed footprint: the PACT v3 ProductFootprint plus its breakdown.
#[derive(Debug, Clone, Serialize)]
pub struct Composed {
    pub entry: String,
    /// kgCO2e per declared unit amount (exact).
    pub pcf_excluding_biogenic_uptake: Decimal,
    /// Percent, exact (the footprint JSON rounds to 2 decimals).
    pub primary_data_share: Decimal,
    /// Exact weighted DQRs (the footprint JSON rounds to 3 decimals).
    pub dqi: Option<Dqi>,
    pub breakdown: Vec<ComposedInput>,
    /// Sub-BOMs composed for this one, each once.
    pub tiers: Vec<Composed>,
    pub footprint: Value,
    #[serde(skip)]
    secondary_sources: BTreeSet<(String, String)>,
    #[serde(skip)]
    gwp: BTreeSet<String>,
}

/// Composes the BOM's root entry.
pub fn compose(
    bom: &Bom,
    factors: &FactorLibrary,
    suppliers: &SupplierIndex,
) -> Result<Composed, ComposeError> {
    compose_entry(bom, &bom.root, factors, suppliers)
}

/// Composes a named entry of a BOM (and, first, every sub-BOM it references).
pub fn compose_entry(
    bom: &Bom,
    id: &str,
    factors: &FactorLibrary,
    suppliers: &SupplierIndex,
) -> Result<Composed, ComposeError> {
    let mut cache = HashMap::new();
    let mut stack = Vec::new();
    Composer {
        bom,
        factors,
        suppliers,
        cache: &mut cache,
    }
    .entry(id, &mut stack)
}

struct Composer<'a, 'c> {
    bom: &'a Bom,
    factors: &'a FactorLibrary,
    suppliers: &'a SupplierIndex,
    cache: &'c mut HashMap<String, Composed>,
}

fn pds_or_zero(p: Option<Decimal>) -> Decimal {
    p.unwrap_or(Decimal::ZERO)
}

impl Composer<'_, '_> {
    fn entry(&mut self, id: &str, stack: &mut Vec<String>) -> Result<Composed, ComposeError> {
        if let Some(c) = self.cache.get(id) {
            return Ok(c.clone());
        }
        if stack.iter().any(|s| s == id) {
            stack.push(id.to_string());
            return Err(ComposeError::Cycle(stack.join(" → ")));
        }
        let e = self
            .bom
            .entries
            .get(id)
            .ok_or_else(|| ComposeError::UnknownEntry(id.to_string()))?;
        stack.push(id.to_string());
        let err = |m: String| ComposeError::Input {
            entry: id.to_string(),
            message: m,
        };
        let du = Unit::parse(&e.declared_unit)
            .ok()
            .filter(|u| u.pact_name().is_some())
            .ok_or_else(|| {
                err(format!(
                    "declaredUnit `{}` is not a PACT v3 unit",
                    e.declared_unit
                ))
            })?;
        if e.declared_unit_amount <= Decimal::ZERO {
            return Err(err("declaredUnitAmount must be above 0".into()));
        }
        let geo = e.geography_country.clone().unwrap_or_else(|| "GLO".into());
        let year: Option<i32> = e
            .reference_period_end
            .get(0..4)
            .and_then(|y| y.parse().ok());
        let mut inputs = Vec::new();
        let mut tiers = Vec::new();
        let mut sources = BTreeSet::new();
        let mut gwp: BTreeSet<String> = e.ipcc_characterization_factors.iter().cloned().collect();
        let mut unspecified_gwp = false;
        let range = self.bom.range_choice;
        let db_input = |f: &Factor,
                        amount: Decimal,
                        unit: Unit,
                        kind: &'static str,
                        reference: String,
                        description: String|
         -> Result<ComposedInput, String> {
            let Per::Unit(fu) = f.per else {
                return Err(format!(
                    "factor `{}` is per {}, not per a physical unit",
                    f.id, f.per
                ));
            };
            let q = convert(amount, unit, fu).map_err(|x| format!("factor `{}`: {x}", f.id))?;
            let v = f.pick(range).map_err(|x| x.to_string())?;
            Ok(ComposedInput {
                kind,
                reference,
                description,
                amount: q,
                unit: fu.to_string(),
                emissions: f.numerator.emissions(q * v),
                primary_data_share: Decimal::ZERO,
                dqi: f.default_dqi(&geo, year),
                note: Some(format!(
                    "{} × {} {}",
                    q.normalize(),
                    v.normalize(),
                    f.unit_label()
                )),
            })
        };
        for c in &e.components {
            let cu = Unit::parse(&c.unit).map_err(|x| err(x.to_string()))?;
            let desc = c.description.clone().unwrap_or_default();
            let picked = [
                c.product_id.is_some(),
                c.bom.is_some(),
                c.factor_id.is_some(),
            ];
            if picked.iter().filter(|p| **p).count() != 1 {
                return Err(err(format!(
                    "component `{desc}` needs exactly one of productId, bom/bomFile, factorId"
                )));
            }
            if let Some(pid) = &c.product_id {
                let (pcf, _, _, _) = self.suppliers.lookup(pid).ok_or_else(|| {
                    err(format!(
                        "no active supplier footprint for product `{pid}` in the inbox"
                    ))
                })?;
                let sdu = Unit::parse(&pcf.declared_unit).map_err(|x| err(x.to_string()))?;
                let q = convert(c.amount, cu, sdu).map_err(|x| {
                    err(format!(
                        "component `{pid}` in {cu} vs supplier footprint per {}: {x}",
                        pcf.declared_unit
                    ))
                })?;
                let kg = q * pcf.pcf_excluding_biogenic_uptake / pcf.declared_unit_amount;
                let mut note = None;
                if pcf.primary_data_share.is_none() {
                    note = Some("supplier gave no primaryDataShare: counted as 0".to_string());
                }
                let dqi = pcf.dqi.unwrap_or_else(|| {
                    note = Some("supplier gave no dqi: technological 3, geographical 1, temporal from reference period".into());
                    Dqi::new(3, 1, temporal_dqr(pcf.reference_year().unwrap_or(0), year))
                });
                if pcf.ipcc_characterization_factors.is_empty() {
                    unspecified_gwp = true;
                }
                gwp.extend(pcf.ipcc_characterization_factors.iter().cloned());
                inputs.push(ComposedInput {
                    kind: "supplier-pcf",
                    reference: format!("{} ({})", pid, pcf.footprint_id),
                    description: desc,
                    amount: q,
                    unit: sdu.to_string(),
                    emissions: Emissions::from_kg(kg),
                    primary_data_share: pds_or_zero(pcf.primary_data_share),
                    dqi,
                    note,
                });
            } else if let Some(sub) = &c.bom {
                let s = self.entry(sub, stack)?;
                let sub_e = &self.bom.entries[sub];
                let sdu = Unit::parse(&sub_e.declared_unit).map_err(|x| err(x.to_string()))?;
                let q = convert(c.amount, cu, sdu)
                    .map_err(|x| err(format!("component bom `{sub}`: {x}")))?;
                let kg = q * s.pcf_excluding_biogenic_uptake / sub_e.declared_unit_amount;
                sources.extend(s.secondary_sources.iter().cloned());
                gwp.extend(s.gwp.iter().cloned());
                inputs.push(ComposedInput {
                    kind: "sub-bom",
                    reference: sub.clone(),
                    description: desc,
                    amount: q,
                    unit: sdu.to_string(),
                    emissions: Emissions::from_kg(kg),
                    primary_data_share: s.primary_data_share,
                    dqi: s.dqi.unwrap_or(Dqi::new(3, 3, 3)),
                    note: None,
                });
                tiers.push(s);
            } else if let Some(fid) = &c.factor_id {
                let f = self
                    .factors
                    .get(fid)
                    .ok_or_else(|| err(format!("unknown factor id `{fid}`")))?;
                sources.insert((f.source.set.clone(), f.source.version.clone()));
                match f.gwp {
                    GwpSet::Unspecified => unspecified_gwp = true,
                    g => {
                        gwp.insert(g.as_str().to_string());
                    }
                }
                inputs.push(
                    db_input(f, c.amount, cu, "database-factor", fid.clone(), desc).map_err(err)?,
                );
            }
        }
        for p in &e.own_processes {
            match (p.emissions_kg, &p.factor_id, p.quantity, &p.unit) {
                (Some(kg), None, None, None) => {
                    let pds = p.primary_data_share.ok_or_else(|| {
                        err(format!(
                            "own process `{}`: primaryDataShare is required with emissionsKg",
                            p.description
                        ))
                    })?;
                    inputs.push(ComposedInput {
                        kind: "own-process",
                        reference: "own gate-to-gate".into(),
                        description: p.description.clone(),
                        amount: Decimal::ONE,
                        unit: "declared unit".into(),
                        emissions: Emissions::from_kg(kg),
                        primary_data_share: pds,
                        dqi: p.dqi.unwrap_or(Dqi::new(1, 1, 1)),
                        note: p
                            .dqi
                            .is_none()
                            .then(|| "own measured data: dqi 1".to_string()),
                    });
                }
                (None, Some(fid), Some(q), Some(u)) => {
                    let f = self
                        .factors
                        .get(fid)
                        .ok_or_else(|| err(format!("unknown factor id `{fid}`")))?;
                    let u = Unit::parse(u).map_err(|x| err(x.to_string()))?;
                    sources.insert((f.source.set.clone(), f.source.version.clone()));
                    match f.gwp {
                        GwpSet::Unspecified => unspecified_gwp = true,
                        g => {
                            gwp.insert(g.as_str().to_string());
                        }
                    }
                    inputs.push(
                        db_input(f, q, u, "own-process", fid.clone(), p.description.clone())
                            .map_err(err)?,
                    );
                }
                _ => {
                    return Err(err(format!(
                        "own process `{}`: give emissionsKg (+ primaryDataShare, dqi) or quantity + unit + factorId",
                        p.description
                    )));
                }
            }
        }
        for t in &e.inbound_transport {
            let f = match (&t.factor_id, &t.mode) {
                (Some(id), _) => self
                    .factors
                    .get(id)
                    .ok_or_else(|| err(format!("unknown factor id `{id}`")))?,
                (None, Some(m)) => self
                    .factors
                    .find(&format!("transport:{}", slug(m)), Some(Unit::TonneKm))
                    .ok_or_else(|| err(format!("no tonne.km factor for mode `{m}`")))?,
                (None, None) => return Err(err("inbound transport needs mode or factorId".into())),
            };
            sources.insert((f.source.set.clone(), f.source.version.clone()));
            if f.gwp == GwpSet::Unspecified {
                unspecified_gwp = true;
            } else {
                gwp.insert(f.gwp.as_str().to_string());
            }
            let tkm = t.mass_kg / Decimal::ONE_THOUSAND * t.distance_km;
            let desc = t.description.clone().unwrap_or_default();
            inputs.push(
                db_input(
                    f,
                    tkm,
                    Unit::TonneKm,
                    "inbound-transport",
                    f.id.to_string(),
                    desc,
                )
                .map_err(err)?,
            );
        }
        stack.pop();

        let total: Emissions = inputs.iter().map(|i| i.emissions).sum();
        let pcf = total.kg();
        let pds = if pcf.is_zero() {
            Decimal::ZERO
        } else {
            inputs
                .iter()
                .map(|i| i.emissions.kg() * i.primary_data_share)
                .sum::<Decimal>()
                / pcf
        };
        let dqi = weighted_dqi(inputs.iter().map(|i| (i.emissions.kg(), i.dqi)));
        let footprint = footprint_json(e, du, pcf, pds, dqi, &sources, &gwp, unspecified_gwp);
        let composed = Composed {
            entry: id.to_string(),
            pcf_excluding_biogenic_uptake: pcf,
            primary_data_share: pds,
            dqi,
            breakdown: inputs,
            tiers,
            footprint,
            secondary_sources: sources,
            gwp,
        };
        self.cache.insert(id.to_string(), composed.clone());
        Ok(composed)
    }
}

fn s(d: Decimal) -> Value {
    Value::String(d.normalize().to_string())
}

#[allow(clippy::too_many_arguments)]
fn footprint_json(
    e: &BomEntry,
    du: Unit,
    pcf: Decimal,
    pds: Decimal,
    dqi: Option<Dqi>,
    sources: &BTreeSet<(String, String)>,
    gwp: &BTreeSet<String>,
    unspecified_gwp: bool,
) -> Value {
    let mut c = Map::new();
    c.insert("declaredUnitOfMeasurement".into(), json!(du.pact_name()));
    c.insert("declaredUnitAmount".into(), s(e.declared_unit_amount));
    c.insert(
        "productMassPerDeclaredUnit".into(),
        s(e.product_mass_per_declared_unit),
    );
    c.insert(
        "referencePeriodStart".into(),
        json!(e.reference_period_start),
    );
    c.insert("referencePeriodEnd".into(), json!(e.reference_period_end));
    if let Some(g) = &e.geography_country {
        c.insert("geographyCountry".into(), json!(g));
    }
    if let Some(b) = &e.boundary_processes_description {
        c.insert("boundaryProcessesDescription".into(), json!(b));
    }
    c.insert("pcfExcludingBiogenicUptake".into(), s(pcf));
    // No biogenic uptake is tracked by composition, so including = excluding + 0.
    c.insert("pcfIncludingBiogenicUptake".into(), s(pcf));
    c.insert(
        "fossilCarbonContent".into(),
        s(e.fossil_carbon_content.unwrap_or(Decimal::ZERO)),
    );
    c.insert("fossilGhgEmissions".into(), s(pcf.max(Decimal::ZERO)));
    let gwp: Vec<&String> = gwp.iter().collect();
    c.insert("ipccCharacterizationFactors".into(), json!(gwp));
    c.insert(
        "crossSectoralStandards".into(),
        json!(e.cross_sectoral_standards),
    );
    c.insert(
        "exemptedEmissionsPercent".into(),
        s(e.exempted_emissions_percent.unwrap_or(Decimal::ZERO)),
    );
    c.insert(
        "packagingEmissionsIncluded".into(),
        json!(e.packaging_emissions_included),
    );
    c.insert("ccsTechnologicalCO2CaptureIncluded".into(), json!(false));
    if !sources.is_empty() {
        let v: Vec<Value> = sources
            .iter()
            .map(|(n, v)| json!({"name": n, "version": if v.is_empty() { "n/a" } else { v }}))
            .collect();
        c.insert("secondaryEmissionFactorSources".into(), Value::Array(v));
    }
    c.insert("primaryDataShare".into(), s(pds.round_dp(2)));
    if let Some(d) = dqi {
        c.insert(
            "dqi".into(),
            json!({
                "technologicalDQR": d.technological.round_dp(3).normalize().to_string(),
                "geographicalDQR": d.geographical.round_dp(3).normalize().to_string(),
                "temporalDQR": d.temporal.round_dp(3).normalize().to_string(),
            }),
        );
    }
    let mut comment = e.comment.clone().unwrap_or_default();
    if unspecified_gwp {
        if !comment.is_empty() {
            comment.push(' ');
        }
        comment.push_str("Some secondary inputs do not state their GWP set.");
    }
    let mut pf = Map::new();
    pf.insert("id".into(), json!(uuid::Uuid::new_v4().to_string()));
    pf.insert("specVersion".into(), json!("3.0.3"));
    pf.insert("created".into(), json!(now_rfc3339()));
    pf.insert("status".into(), json!("Active"));
    pf.insert("companyName".into(), json!(e.company_name));
    pf.insert("companyIds".into(), json!(e.company_ids));
    pf.insert("productDescription".into(), json!(e.product_description));
    pf.insert("productIds".into(), json!(e.product_ids));
    pf.insert("productNameCompany".into(), json!(e.product_name_company));
    if !comment.is_empty() {
        pf.insert("comment".into(), json!(comment));
    }
    pf.insert("pcf".into(), Value::Object(c));
    Value::Object(pf)
}

/// Current UTC time as `YYYY-MM-DDTHH:MM:SSZ` (civil-from-days, no chrono needed).
fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}
