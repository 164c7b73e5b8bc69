//! Composing the company's own PACT v3 footprint from a bill of materials.
//!
//! Each figure per declared unit = Σ (amountᵢ ÷ declaredUnitAmountᵢ) × figureᵢ over supplier
//! PCFs and sub-BOMs, + Σ amount × database factor + own gate-to-gate + inbound transport
//! ([`figures`](crate::scope3::figures): every PACT figure the inputs state is carried,
//! input by input, so the composed footprint's parts add up; a figure one input does not
//! state is absent, or an error naming that input when PACT requires it).
//! primaryDataShare = Σ |Eᵢ|·pdsᵢ ÷ Σ |Eᵢ| and each DQR likewise (carbon.md §3; the
//! magnitude keeps a removal from turning the weighted mean into something else): supplier
//! PDS for PACT inputs, 100 for own measured processes, 0 for database factors.
//! Sub-BOMs (multi-tier) are composed first, once, with cycle detection.
//! Every problem of a BOM is reported in one run, each at its file:line:column.

use crate::scope3::calc::{slug, weighted_dqi};
use crate::scope3::factors::{Factor, FactorLibrary, Per, RangeChoice, temporal_dqr};
use crate::scope3::figures::{self, Figure, Figures};
use crate::scope3::supplier::SupplierIndex;
use crate::scope3::units::{Emissions, Unit, convert};
use crate::scope3::{Dqi, GwpSet};
use jsonc_parser::ast::Value as Node;
use jsonc_parser::common::Ranged;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tanso_model::rounding::{round, round_normalized};
use thiserror::Error;

/// Errors from loading BOMs and composing footprints.
#[derive(Debug, Error)]
pub enum ComposeError {
    #[error("cannot read bom {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}:{line}:{column}: invalid bom: {message}")]
    Json {
        path: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("bom entry `{0}` is defined twice")]
    Duplicate(String),
    #[error("bom entry `{0}` not found")]
    UnknownEntry(String),
    #[error("bom cycle: {0}")]
    Cycle(String),
    #[error("bom `{entry}`: {message}")]
    Input { entry: String, message: String },
    /// Every problem of the BOM's values and inputs, each at its place in its file.
    #[error("{} bom problem(s):\n{}", .0.len(), list(.0))]
    Invalid(Vec<BomProblem>),
}

/// One problem of a BOM: where it is (file, 1-based line and column, JSON pointer) and
/// what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BomProblem {
    pub file: String,
    pub line: usize,
    pub column: usize,
    /// JSON pointer of the value, e.g. `/entries/0/components/1/amount`.
    pub pointer: String,
    pub message: String,
}

impl fmt::Display for BomProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.column, self.message
        )
    }
}

/// Lists problems for display, the first 50 only: the full list stays in the value.
fn list(problems: &[BomProblem]) -> String {
    let mut s = problems
        .iter()
        .take(50)
        .map(|p| format!("  {p}"))
        .collect::<Vec<_>>()
        .join("\n");
    if problems.len() > 50 {
        s.push_str(&format!("\n  … and {} more", problems.len() - 50));
    }
    s
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
    /// The product's fossil carbon content, when the owner states it (kgC per declared unit
    /// amount); otherwise composed from the inputs.
    #[serde(default, deserialize_with = "opt_dec_str")]
    pub fossil_carbon_content: Option<Decimal>,
    /// The product's biogenic carbon content, when the owner states it; otherwise composed.
    #[serde(default, deserialize_with = "opt_dec_str")]
    pub biogenic_carbon_content: Option<Decimal>,
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
    /// Where each entry was read: its file and its index in that file's `entries`.
    origins: HashMap<String, (Arc<str>, usize)>,
    /// The text of every file read, to place a problem at its line and column.
    texts: HashMap<Arc<str>, Arc<str>>,
}

/// Loads a BOM JSON file and, recursively, the BOM files its components reference.
pub fn load_bom(path: &Path) -> Result<Bom, ComposeError> {
    let mut bom = Bom::empty();
    let mut seen = Vec::new();
    bom.root = load_file(path, &mut bom, &mut seen)?;
    Ok(bom)
}

/// Parses a BOM document from text; `bomFile` references are resolved against `base`.
pub fn parse_bom(text: &str, base: &Path) -> Result<Bom, ComposeError> {
    let mut bom = Bom::empty();
    let mut seen = Vec::new();
    bom.root = add_file(text, "<text>", base, &mut bom, &mut seen)?;
    Ok(bom)
}

impl Bom {
    fn empty() -> Self {
        Self {
            root: String::new(),
            entries: HashMap::new(),
            range_choice: RangeChoice::Low,
            origins: HashMap::new(),
            texts: HashMap::new(),
        }
    }
}

fn load_file(path: &Path, bom: &mut Bom, seen: &mut Vec<PathBuf>) -> Result<String, ComposeError> {
    let text = std::fs::read_to_string(path).map_err(|source| ComposeError::Io {
        path: path.display().to_string(),
        source,
    })?;
    let canon = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    seen.push(canon);
    let base = path.parent().unwrap_or(Path::new("."));
    add_file(&text, &path.display().to_string(), base, bom, seen)
}

fn add_file(
    text: &str,
    name: &str,
    base: &Path,
    bom: &mut Bom,
    seen: &mut Vec<PathBuf>,
) -> Result<String, ComposeError> {
    let file: BomFile = serde_json::from_str(text).map_err(|e| {
        let message = e.to_string();
        // serde_json appends " at line L column C"; the numbers are given separately.
        let message = message
            .rsplit_once(" at line ")
            .map_or(message.as_str(), |(m, _)| m)
            .to_string();
        ComposeError::Json {
            path: name.to_string(),
            line: e.line(),
            column: e.column(),
            message,
        }
    })?;
    let file_name: Arc<str> = Arc::from(name);
    bom.texts.insert(file_name.clone(), Arc::from(text));
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
    for (index, mut e) in file.entries.into_iter().enumerate() {
        for c in &mut e.components {
            if let Some(f) = &c.bom_file {
                let p = base.join(f);
                let canon = p.canonicalize().unwrap_or_else(|_| p.clone());
                let sub_root = if seen.contains(&canon) {
                    None
                } else {
                    Some(load_file(&p, bom, seen)?)
                };
                if c.bom.is_none() {
                    match sub_root {
                        Some(r) => c.bom = Some(r),
                        None => refs.push((e.id.clone(), f.clone())),
                    }
                }
            }
        }
        if bom.entries.contains_key(&e.id) {
            return Err(ComposeError::Duplicate(e.id));
        }
        bom.origins.insert(e.id.clone(), (file_name.clone(), index));
        bom.entries.insert(e.id.clone(), e);
    }
    if let Some((entry, f)) = refs.into_iter().next() {
        return Err(ComposeError::Input {
            entry,
            message: format!("bomFile `{f}` is already loaded: name its entry with `bom`"),
        });
    }
    Ok(root)
}

/// The 1-based line and column of the value at `pointer` in a JSON text, or of its
/// nearest ancestor that exists (a missing member is placed at the object that lacks it).
fn locate(text: &str, pointer: &str) -> (usize, usize) {
    let offset = jsonc_parser::parse_to_ast(text, &Default::default(), &Default::default())
        .ok()
        .and_then(|parsed| {
            let mut node = parsed.value?;
            let mut at = node.start();
            for token in pointer.split('/').skip(1) {
                let token = token.replace("~1", "/").replace("~0", "~");
                let next = match node {
                    Node::Object(o) => o
                        .properties
                        .into_iter()
                        .find(|p| p.name.as_str() == token)
                        .map(|p| p.value),
                    Node::Array(a) => token
                        .parse::<usize>()
                        .ok()
                        .and_then(|i| a.elements.into_iter().nth(i)),
                    _ => None,
                };
                let Some(next) = next else {
                    break;
                };
                node = next;
                at = node.start();
            }
            Some(at)
        })
        .unwrap_or(0);
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rsplit_once('\n')
        .map_or(before, |(_, last)| last)
        .chars()
        .count()
        + 1;
    (line, column)
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
    /// Its `pcfExcludingBiogenicUptake` per declared unit amount of the product.
    pub emissions: Emissions,
    /// Every PACT figure it contributes per declared unit amount of the product.
    pub figures: Figures,
    /// Percent.
    pub primary_data_share: Decimal,
    pub dqi: Dqi,
    pub note: Option<String>,
    /// JSON pointer of the input in its BOM file.
    #[serde(skip)]
    pointer: String,
}

/// A composed footprint: the PACT v3 ProductFootprint plus its breakdown.
#[derive(Debug, Clone, Serialize)]
pub struct Composed {
    pub entry: String,
    /// kgCO2e per declared unit amount (exact).
    pub pcf_excluding_biogenic_uptake: Decimal,
    /// Every PACT figure of the composed footprint, exact, per declared unit amount; a
    /// figure not every input states is absent.
    pub figures: Figures,
    /// Percent, exact (the footprint JSON rounds to 2 decimals by the one rounding rule).
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

/// Composes a named entry of a BOM (and, first, every sub-BOM it references). Every
/// problem of every entry it reaches is reported at once (`ComposeError::Invalid`).
pub fn compose_entry(
    bom: &Bom,
    id: &str,
    factors: &FactorLibrary,
    suppliers: &SupplierIndex,
) -> Result<Composed, ComposeError> {
    let mut composer = Composer {
        bom,
        factors,
        suppliers,
        cache: HashMap::new(),
        problems: Vec::new(),
    };
    if !bom.entries.contains_key(id) {
        return Err(ComposeError::UnknownEntry(id.to_string()));
    }
    let composed = composer.entry(id, &mut Vec::new())?;
    if !composer.problems.is_empty() {
        return Err(ComposeError::Invalid(bom.located(composer.problems)));
    }
    composed.ok_or_else(|| ComposeError::UnknownEntry(id.to_string()))
}

/// A problem before it is placed in its file: the entry, the pointer below the entry
/// (`/components/0/amount`) and the message.
struct Pending {
    entry: String,
    below: String,
    message: String,
}

impl Bom {
    /// Places problems at their file, line and column, in file order.
    fn located(&self, pending: Vec<Pending>) -> Vec<BomProblem> {
        let mut out: Vec<BomProblem> = pending
            .into_iter()
            .map(|p| {
                let (file, index) = self
                    .origins
                    .get(&p.entry)
                    .cloned()
                    .unwrap_or_else(|| (Arc::from("<bom>"), 0));
                let pointer = format!("/entries/{index}{}", p.below);
                let (line, column) = self
                    .texts
                    .get(&file)
                    .map_or((0, 0), |text| locate(text, &pointer));
                BomProblem {
                    file: file.to_string(),
                    line,
                    column,
                    pointer,
                    message: format!("entry `{}`: {}", p.entry, p.message),
                }
            })
            .collect();
        out.sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
        out
    }
}

struct Composer<'a> {
    bom: &'a Bom,
    factors: &'a FactorLibrary,
    suppliers: &'a SupplierIndex,
    /// Each entry composed once; `None` for an entry with a problem.
    cache: HashMap<String, Option<Composed>>,
    problems: Vec<Pending>,
}

fn pds_or_zero(p: Option<Decimal>) -> Decimal {
    p.unwrap_or(Decimal::ZERO)
}

/// `what` (named in messages) must be above 0.
fn positive(v: Decimal, what: &str) -> Option<String> {
    (v <= Decimal::ZERO).then(|| format!("{what} must be above 0, found {v}"))
}

/// `what` must be 0 or more.
fn non_negative(v: Decimal, what: &str) -> Option<String> {
    (v < Decimal::ZERO).then(|| format!("{what} must be 0 or more, found {v}"))
}

/// A percentage within 0..=100.
fn percent(v: Decimal, what: &str) -> Option<String> {
    (v < Decimal::ZERO || v > Decimal::ONE_HUNDRED)
        .then(|| format!("{what} must be between 0 and 100, found {v}"))
}

/// PACT data quality ratings within 1..=5.
fn dqi_problems(d: &Dqi) -> Vec<(&'static str, String)> {
    [
        ("technologicalDQR", d.technological),
        ("geographicalDQR", d.geographical),
        ("temporalDQR", d.temporal),
    ]
    .into_iter()
    .filter(|(_, v)| *v < Decimal::ONE || *v > Decimal::from(5))
    .map(|(name, v)| (name, format!("{name} must be between 1 and 5, found {v}")))
    .collect()
}

impl Composer<'_> {
    fn problem(&mut self, entry: &str, below: String, message: String) {
        self.problems.push(Pending {
            entry: entry.to_string(),
            below,
            message,
        });
    }

    /// Checks the entry's own values (units, amounts, shares, ratings), reporting every
    /// problem; returns the pointers of the inputs that may not be composed.
    fn check(&mut self, id: &str, e: &BomEntry) -> BTreeSet<String> {
        let mut bad_inputs = BTreeSet::new();
        let mut found: Vec<(String, String)> = Vec::new();
        if Unit::parse(&e.declared_unit)
            .ok()
            .and_then(|u| u.pact_name())
            .is_none()
        {
            found.push((
                "/declaredUnit".into(),
                format!("declaredUnit `{}` is not a PACT v3 unit", e.declared_unit),
            ));
        }
        let entry_values = [
            (
                "/declaredUnitAmount",
                positive(e.declared_unit_amount, "declaredUnitAmount"),
            ),
            (
                "/productMassPerDeclaredUnit",
                non_negative(
                    e.product_mass_per_declared_unit,
                    "productMassPerDeclaredUnit",
                ),
            ),
            (
                "/fossilCarbonContent",
                e.fossil_carbon_content
                    .and_then(|v| non_negative(v, "fossilCarbonContent")),
            ),
            (
                "/biogenicCarbonContent",
                e.biogenic_carbon_content
                    .and_then(|v| non_negative(v, "biogenicCarbonContent")),
            ),
            (
                "/exemptedEmissionsPercent",
                e.exempted_emissions_percent
                    .and_then(|v| percent(v, "exemptedEmissionsPercent")),
            ),
        ];
        for (at, message) in entry_values {
            if let Some(m) = message {
                found.push((at.into(), m));
            }
        }
        for (i, c) in e.components.iter().enumerate() {
            let at = format!("/components/{i}");
            let named = match &c.description {
                Some(d) if !d.is_empty() => format!("{at} ({d})"),
                _ => at.clone(),
            };
            let n = found.len();
            if let Some(m) = positive(c.amount, "amount") {
                found.push((format!("{at}/amount"), format!("{named}: {m}")));
            }
            if let Err(x) = Unit::parse(&c.unit) {
                found.push((format!("{at}/unit"), format!("{named}: {x}")));
            }
            let picked = [
                c.product_id.is_some(),
                c.bom.is_some(),
                c.factor_id.is_some(),
            ];
            if picked.iter().filter(|p| **p).count() != 1 {
                found.push((
                    at.clone(),
                    format!(
                        "{named}: a component needs exactly one of productId, bom/bomFile, factorId"
                    ),
                ));
            }
            if found.len() > n {
                bad_inputs.insert(at);
            }
        }
        for (i, p) in e.own_processes.iter().enumerate() {
            let at = format!("/ownProcesses/{i}");
            let named = format!("{at} ({})", p.description);
            let n = found.len();
            match (p.emissions_kg, &p.factor_id, p.quantity, &p.unit) {
                (Some(kg), None, None, None) => {
                    if let Some(m) = non_negative(kg, "emissionsKg") {
                        found.push((format!("{at}/emissionsKg"), format!("{named}: {m}")));
                    }
                    match p.primary_data_share {
                        None => found.push((
                            at.clone(),
                            format!("{named}: primaryDataShare is required with emissionsKg"),
                        )),
                        Some(pds) => {
                            if let Some(m) = percent(pds, "primaryDataShare") {
                                found.push((
                                    format!("{at}/primaryDataShare"),
                                    format!("{named}: {m}"),
                                ));
                            }
                        }
                    }
                    if let Some(d) = &p.dqi {
                        for (name, m) in dqi_problems(d) {
                            found.push((format!("{at}/dqi/{name}"), format!("{named}: {m}")));
                        }
                    }
                }
                (None, Some(_), Some(q), Some(u)) => {
                    if let Some(m) = positive(q, "quantity") {
                        found.push((format!("{at}/quantity"), format!("{named}: {m}")));
                    }
                    if let Err(x) = Unit::parse(u) {
                        found.push((format!("{at}/unit"), format!("{named}: {x}")));
                    }
                }
                _ => found.push((
                    at.clone(),
                    format!(
                        "{named}: give emissionsKg (+ primaryDataShare, dqi) or quantity + unit + factorId"
                    ),
                )),
            }
            if found.len() > n {
                bad_inputs.insert(at);
            }
        }
        for (i, t) in e.inbound_transport.iter().enumerate() {
            let at = format!("/inboundTransport/{i}");
            let n = found.len();
            if let Some(m) = positive(t.mass_kg, "massKg") {
                found.push((format!("{at}/massKg"), format!("{at}: {m}")));
            }
            if let Some(m) = positive(t.distance_km, "distanceKm") {
                found.push((format!("{at}/distanceKm"), format!("{at}: {m}")));
            }
            if t.mode.is_none() && t.factor_id.is_none() {
                found.push((
                    at.clone(),
                    format!("{at}: inbound transport needs mode or factorId"),
                ));
            }
            if found.len() > n {
                bad_inputs.insert(at);
            }
        }
        for (below, message) in found {
            self.problem(id, below, message);
        }
        bad_inputs
    }

    /// Composes entry `id`; `Ok(None)` when it (or an entry it uses) has a problem, which
    /// is then in `self.problems`. Only a cycle stops the run.
    fn entry(
        &mut self,
        id: &str,
        stack: &mut Vec<String>,
    ) -> Result<Option<Composed>, ComposeError> {
        if let Some(c) = self.cache.get(id) {
            return Ok(c.clone());
        }
        if stack.iter().any(|s| s == id) {
            stack.push(id.to_string());
            return Err(ComposeError::Cycle(stack.join(" → ")));
        }
        let bom = self.bom;
        let Some(e) = bom.entries.get(id) else {
            return Ok(None);
        };
        stack.push(id.to_string());
        let problems_before = self.problems.len();
        let bad_inputs = self.check(id, e);
        let du = Unit::parse(&e.declared_unit)
            .ok()
            .filter(|u| u.pact_name().is_some());
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
        let mut secondary = false;
        let range = self.bom.range_choice;
        let db_input = |f: &Factor,
                        amount: Decimal,
                        unit: Unit,
                        kind: &'static str,
                        reference: String,
                        description: String,
                        pointer: String|
         -> Result<ComposedInput, String> {
            let Per::Unit(fu) = f.per else {
                return Err(format!(
                    "factor `{}` is per {}, not per a physical unit",
                    f.id, f.per
                ));
            };
            let q = convert(amount, unit, fu).map_err(|x| format!("factor `{}`: {x}", f.id))?;
            let v = f.pick(range).map_err(|x| x.to_string())?;
            let emissions = f.numerator.emissions(q * v);
            Ok(ComposedInput {
                kind,
                reference,
                description,
                amount: q,
                unit: fu.to_string(),
                emissions,
                figures: figures::fossil_only(emissions.kg(), kind == "database-factor"),
                primary_data_share: Decimal::ZERO,
                dqi: f.default_dqi(&geo, year),
                note: Some(format!(
                    "{} × {} {} (a secondary factor: counted as fossil GHG emissions)",
                    q.normalize(),
                    v.normalize(),
                    f.unit_label()
                )),
                pointer,
            })
        };
        for (i, c) in e.components.iter().enumerate() {
            let at = format!("/components/{i}");
            if bad_inputs.contains(&at) {
                continue;
            }
            let Ok(cu) = Unit::parse(&c.unit) else {
                continue;
            };
            let desc = c.description.clone().unwrap_or_default();
            let named = if desc.is_empty() {
                at.clone()
            } else {
                format!("{at} ({desc})")
            };
            if let Some(pid) = &c.product_id {
                let Some((pcf, _, _, _)) = self.suppliers.lookup(pid) else {
                    self.problem(
                        id,
                        format!("{at}/productId"),
                        format!(
                            "{named}: no active supplier footprint for product `{pid}` in the inbox"
                        ),
                    );
                    continue;
                };
                let sdu = match Unit::parse(&pcf.declared_unit) {
                    Ok(u) => u,
                    Err(x) => {
                        self.problem(id, format!("{at}/productId"), format!("{named}: {x}"));
                        continue;
                    }
                };
                let q = match convert(c.amount, cu, sdu) {
                    Ok(q) => q,
                    Err(x) => {
                        self.problem(
                            id,
                            format!("{at}/unit"),
                            format!(
                                "{named}: {cu} vs supplier footprint per {}: {x}",
                                pcf.declared_unit
                            ),
                        );
                        continue;
                    }
                };
                let mut supplier_bad = false;
                if let Some(m) = pcf
                    .primary_data_share
                    .and_then(|p| percent(p, "the supplier's primaryDataShare"))
                {
                    self.problem(id, format!("{at}/productId"), format!("{named}: {m}"));
                    supplier_bad = true;
                }
                if let Some(d) = &pcf.dqi {
                    for (_, m) in dqi_problems(d) {
                        self.problem(
                            id,
                            format!("{at}/productId"),
                            format!("{named}: the supplier's {m}"),
                        );
                        supplier_bad = true;
                    }
                }
                if supplier_bad || pcf.declared_unit_amount <= Decimal::ZERO {
                    continue;
                }
                let scale = q / pcf.declared_unit_amount;
                let mut stated = pcf.figures.clone();
                stated.insert(
                    Figure::PcfExcludingBiogenicUptake,
                    pcf.pcf_excluding_biogenic_uptake,
                );
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
                    emissions: Emissions::from_kg(scale * pcf.pcf_excluding_biogenic_uptake),
                    figures: figures::scaled(&stated, scale),
                    primary_data_share: pds_or_zero(pcf.primary_data_share),
                    dqi,
                    note,
                    pointer: at,
                });
            } else if let Some(sub) = &c.bom {
                let Some(sub_e) = bom.entries.get(sub) else {
                    self.problem(
                        id,
                        format!("{at}/bom"),
                        format!("{named}: bom entry `{sub}` not found"),
                    );
                    continue;
                };
                let Some(s) = self.entry(sub, stack)? else {
                    continue;
                };
                let Ok(sdu) = Unit::parse(&sub_e.declared_unit) else {
                    continue;
                };
                let q = match convert(c.amount, cu, sdu) {
                    Ok(q) => q,
                    Err(x) => {
                        self.problem(
                            id,
                            format!("{at}/unit"),
                            format!("{named}: bom `{sub}`: {x}"),
                        );
                        continue;
                    }
                };
                let scale = q / sub_e.declared_unit_amount;
                sources.extend(s.secondary_sources.iter().cloned());
                gwp.extend(s.gwp.iter().cloned());
                inputs.push(ComposedInput {
                    kind: "sub-bom",
                    reference: sub.clone(),
                    description: desc,
                    amount: q,
                    unit: sdu.to_string(),
                    emissions: Emissions::from_kg(scale * s.pcf_excluding_biogenic_uptake),
                    figures: figures::scaled(&s.figures, scale),
                    primary_data_share: s.primary_data_share,
                    dqi: s.dqi.unwrap_or(Dqi::new(3, 3, 3)),
                    note: None,
                    pointer: at,
                });
                tiers.push(s);
            } else if let Some(fid) = &c.factor_id {
                let Some(f) = self.factors.get(fid) else {
                    self.problem(
                        id,
                        format!("{at}/factorId"),
                        format!("{named}: unknown factor id `{fid}`"),
                    );
                    continue;
                };
                match db_input(
                    f,
                    c.amount,
                    cu,
                    "database-factor",
                    fid.clone(),
                    desc,
                    at.clone(),
                ) {
                    Ok(input) => {
                        sources.insert((f.source.set.clone(), f.source.version.clone()));
                        match f.gwp {
                            GwpSet::Unspecified => unspecified_gwp = true,
                            g => {
                                gwp.insert(g.as_str().to_string());
                            }
                        }
                        secondary = true;
                        inputs.push(input);
                    }
                    Err(m) => self.problem(id, format!("{at}/factorId"), format!("{named}: {m}")),
                }
            }
        }
        for (i, p) in e.own_processes.iter().enumerate() {
            let at = format!("/ownProcesses/{i}");
            if bad_inputs.contains(&at) {
                continue;
            }
            let named = format!("{at} ({})", p.description);
            match (p.emissions_kg, &p.factor_id, p.quantity, &p.unit) {
                (Some(kg), None, None, None) => {
                    inputs.push(ComposedInput {
                        kind: "own-process",
                        reference: "own gate-to-gate".into(),
                        description: p.description.clone(),
                        amount: Decimal::ONE,
                        unit: "declared unit".into(),
                        emissions: Emissions::from_kg(kg),
                        figures: figures::fossil_only(kg, false),
                        primary_data_share: pds_or_zero(p.primary_data_share),
                        dqi: p.dqi.unwrap_or(Dqi::new(1, 1, 1)),
                        note: p
                            .dqi
                            .is_none()
                            .then(|| "own measured data: dqi 1".to_string()),
                        pointer: at,
                    });
                }
                (None, Some(fid), Some(q), Some(u)) => {
                    let Some(f) = self.factors.get(fid) else {
                        self.problem(
                            id,
                            format!("{at}/factorId"),
                            format!("{named}: unknown factor id `{fid}`"),
                        );
                        continue;
                    };
                    let Ok(u) = Unit::parse(u) else {
                        continue;
                    };
                    match db_input(
                        f,
                        q,
                        u,
                        "own-process",
                        fid.clone(),
                        p.description.clone(),
                        at.clone(),
                    ) {
                        Ok(input) => {
                            sources.insert((f.source.set.clone(), f.source.version.clone()));
                            match f.gwp {
                                GwpSet::Unspecified => unspecified_gwp = true,
                                g => {
                                    gwp.insert(g.as_str().to_string());
                                }
                            }
                            secondary = true;
                            inputs.push(input);
                        }
                        Err(m) => {
                            self.problem(id, format!("{at}/factorId"), format!("{named}: {m}"))
                        }
                    }
                }
                _ => {}
            }
        }
        for (i, t) in e.inbound_transport.iter().enumerate() {
            let at = format!("/inboundTransport/{i}");
            if bad_inputs.contains(&at) {
                continue;
            }
            let f = match (&t.factor_id, &t.mode) {
                (Some(fid), _) => self.factors.get(fid).ok_or_else(|| {
                    (
                        format!("{at}/factorId"),
                        format!("{at}: unknown factor id `{fid}`"),
                    )
                }),
                (None, Some(m)) => self
                    .factors
                    .find(&format!("transport:{}", slug(m)), Some(Unit::TonneKm))
                    .ok_or_else(|| {
                        (
                            format!("{at}/mode"),
                            format!("{at}: no tonne.km factor for mode `{m}`"),
                        )
                    }),
                (None, None) => continue,
            };
            let f = match f {
                Ok(f) => f,
                Err((below, m)) => {
                    self.problem(id, below, m);
                    continue;
                }
            };
            let tkm = t.mass_kg / Decimal::ONE_THOUSAND * t.distance_km;
            let desc = t.description.clone().unwrap_or_default();
            match db_input(
                f,
                tkm,
                Unit::TonneKm,
                "inbound-transport",
                f.id.to_string(),
                desc,
                at.clone(),
            ) {
                Ok(input) => {
                    sources.insert((f.source.set.clone(), f.source.version.clone()));
                    if f.gwp == GwpSet::Unspecified {
                        unspecified_gwp = true;
                    } else {
                        gwp.insert(f.gwp.as_str().to_string());
                    }
                    secondary = true;
                    inputs.push(input);
                }
                Err(m) => self.problem(id, at.clone(), format!("{at}: {m}")),
            }
        }
        stack.pop();

        let mut composed_figures = Figures::new();
        for f in Figure::ALL {
            let mut total = Decimal::ZERO;
            let mut lacking = None;
            for input in &inputs {
                match input.figures.get(&f) {
                    Some(v) => total += *v,
                    None if f.absent_is_none() => {}
                    None => {
                        lacking = Some(input);
                        break;
                    }
                }
            }
            let owner_stated = match f {
                Figure::FossilCarbonContent => e.fossil_carbon_content,
                Figure::BiogenicCarbonContent => e.biogenic_carbon_content,
                _ => None,
            };
            match (owner_stated, lacking) {
                (Some(v), _) => {
                    composed_figures.insert(f, v);
                }
                (None, None) => {
                    composed_figures.insert(f, total);
                }
                (None, Some(input)) if f.required() => {
                    let hint = if f == Figure::FossilCarbonContent {
                        " (or state fossilCarbonContent for the whole product in the entry)"
                    } else {
                        ""
                    };
                    let what = if input.description.is_empty() {
                        input.reference.clone()
                    } else {
                        format!("{} ({})", input.reference, input.description)
                    };
                    let message = format!(
                        "{}: {what} states no {f}, which the composed footprint needs{hint}",
                        input.pointer
                    );
                    let below = input.pointer.clone();
                    self.problem(id, below, message);
                }
                (None, Some(_)) => {}
            }
        }
        // The uptake, when known, fixes the including figure exactly (PACT:
        // including = excluding + biogenicCO2Uptake), whatever the inputs rounded.
        if let (Some(excl), Some(uptake)) = (
            composed_figures.get(&Figure::PcfExcludingBiogenicUptake),
            composed_figures.get(&Figure::BiogenicCo2Uptake),
        ) {
            let incl = *excl + *uptake;
            composed_figures.insert(Figure::PcfIncludingBiogenicUptake, incl);
        }

        if self.problems.len() > problems_before {
            self.cache.insert(id.to_string(), None);
            return Ok(None);
        }
        let Some(du) = du else {
            self.cache.insert(id.to_string(), None);
            return Ok(None);
        };
        let pcf = inputs.iter().map(|i| i.emissions).sum::<Emissions>().kg();
        // Weights are magnitudes, so a removal keeps the mean a mean (0..=100, 1..=5).
        let weight: Decimal = inputs.iter().map(|i| i.emissions.kg().abs()).sum();
        let pds = if weight.is_zero() {
            Decimal::ZERO
        } else {
            inputs
                .iter()
                .map(|i| i.emissions.kg().abs() * i.primary_data_share)
                .sum::<Decimal>()
                / weight
        };
        let dqi = weighted_dqi(inputs.iter().map(|i| (i.emissions.kg().abs(), i.dqi)));
        let footprint = footprint_json(
            e,
            du,
            &composed_figures,
            pds,
            dqi,
            &sources,
            &gwp,
            Notes {
                unspecified_gwp,
                secondary,
            },
        );
        let composed = Composed {
            entry: id.to_string(),
            pcf_excluding_biogenic_uptake: pcf,
            figures: composed_figures,
            primary_data_share: pds,
            dqi,
            breakdown: inputs,
            tiers,
            footprint,
            secondary_sources: sources,
            gwp,
        };
        self.cache.insert(id.to_string(), Some(composed.clone()));
        Ok(Some(composed))
    }
}

fn s(d: Decimal) -> Value {
    Value::String(d.normalize().to_string())
}

/// What the composed footprint's comment says about its inputs.
struct Notes {
    unspecified_gwp: bool,
    secondary: bool,
}

#[allow(clippy::too_many_arguments)]
fn footprint_json(
    e: &BomEntry,
    du: Unit,
    figures: &Figures,
    pds: Decimal,
    dqi: Option<Dqi>,
    sources: &BTreeSet<(String, String)>,
    gwp: &BTreeSet<String>,
    notes: Notes,
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
    // CCS: included when the inputs carry a capture or technological removal; PACT wants
    // the CCS figures undefined otherwise.
    let ccs = [
        Figure::CcsTechnologicalCo2Capture,
        Figure::TechnologicalCo2Removals,
    ]
    .iter()
    .any(|f| figures.get(f).is_some_and(|v| !v.is_zero()));
    for f in Figure::ALL {
        let ccs_figure = matches!(
            f,
            Figure::CcsTechnologicalCo2Capture | Figure::TechnologicalCo2Removals
        );
        if ccs_figure && !ccs {
            continue;
        }
        if let Some(v) = figures.get(&f) {
            c.insert(f.name().into(), s(*v));
        }
    }
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
    c.insert("ccsTechnologicalCO2CaptureIncluded".into(), json!(ccs));
    if !sources.is_empty() {
        let v: Vec<Value> = sources
            .iter()
            .map(|(n, v)| json!({"name": n, "version": if v.is_empty() { "n/a" } else { v }}))
            .collect();
        c.insert("secondaryEmissionFactorSources".into(), Value::Array(v));
    }
    c.insert("primaryDataShare".into(), s(round(pds, 2)));
    if let Some(d) = dqi {
        c.insert(
            "dqi".into(),
            json!({
                "technologicalDQR": round_normalized(d.technological, 3).to_string(),
                "geographicalDQR": round_normalized(d.geographical, 3).to_string(),
                "temporalDQR": round_normalized(d.temporal, 3).to_string(),
            }),
        );
    }
    let mut comment = e.comment.clone().unwrap_or_default();
    let mut add = |text: &str| {
        if !comment.is_empty() {
            comment.push(' ');
        }
        comment.push_str(text);
    };
    if notes.secondary {
        add(
            "Secondary emission factors state CO2e only: counted as fossil GHG emissions with no biogenic CO2 uptake.",
        );
    }
    if notes.unspecified_gwp {
        add("Some secondary inputs do not state their GWP set.");
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
