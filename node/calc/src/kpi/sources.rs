//! A framework's measures from every source a company has: the node's own monthly counts, its
//! inventory ledger (Scope 1 and 2 computed from activity data, never typed in) and measures
//! CSVs, per company, department and team. [`assemble`] is the one implementation the dashboard
//! (`/api/kpi`, `/api/monitor`) and the CLI (`tanso kpi report`, `tanso kpi monitor`) call.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::inventory::{self, Inventory, Totals};
use crate::kpi::KpiError;
use crate::kpi::config::KpiConfig;
use crate::kpi::measures::{Measures, OrgMeasures, load_org_measures_csv};
use crate::kpi::period::Period;
use crate::scope3::FactorLibrary;

/// The measures the inventory feeds and the unit each is in.
pub use crate::inventory::MEASURES as INVENTORY_MEASURES;

/// Where a framework's measures come from.
#[derive(Debug, Clone, Copy)]
pub struct Sources<'a> {
    /// The inventory ledger directory (`fuel*.csv`, `electricity*.csv`, ...).
    pub inventory: Option<&'a Path>,
    /// Measures CSV files (`period,measure,value,unit[,department,team]`).
    pub measures: &'a [PathBuf],
}

/// The framework's measures per company, department and team: `node` (the node's own monthly
/// counts, company level) first, then the inventory, then the CSVs, rolled up
/// ([`OrgMeasures::roll_up`]). A CSV row for a measure the inventory feeds is refused.
pub fn assemble(
    cfg: &KpiConfig,
    node: Measures,
    sources: Sources<'_>,
) -> Result<OrgMeasures, KpiError> {
    let mut org = OrgMeasures {
        company: node,
        ..OrgMeasures::default()
    };
    let mut node_fed: Vec<&str> = Vec::new();
    if let Some(dir) = sources.inventory {
        let inv = read_inventory(dir)?;
        let (measures, fed) = inventory_measures(cfg, &inv)?;
        org.extend(measures);
        node_fed = fed;
    }
    for path in sources.measures {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| KpiError::Io {
            path: name.clone(),
            msg: e.to_string(),
        })?;
        org.extend(load_org_measures_csv(&text, &name, cfg, &node_fed)?);
    }
    org.roll_up(cfg);
    Ok(org)
}

/// Reads and calculates an inventory ledger directory with the shipped factor sets.
pub fn read_inventory(dir: &Path) -> Result<Inventory, KpiError> {
    let fail = |msg: String| KpiError::Inventory {
        dir: dir.display().to_string(),
        msg,
    };
    let ledger = inventory::read_inventory_dir(dir)
        .and_then(inventory::ReadInventory::into_result)
        .map_err(|e| fail(e.to_string()))?;
    inventory::calculate(&ledger, &FactorLibrary::builtin()).map_err(|e| fail(e.to_string()))
}

/// The inventory's monthly totals as the measures `cfg` declares (and their names), per
/// company, department and team. A declared measure in another unit is a config error.
pub fn inventory_measures(
    cfg: &KpiConfig,
    inv: &Inventory,
) -> Result<(OrgMeasures, Vec<&'static str>), KpiError> {
    let mut fed = Vec::new();
    for (name, unit) in INVENTORY_MEASURES {
        if let Some(m) = cfg.measure(name) {
            if m.unit != unit {
                return Err(KpiError::Config {
                    config: cfg.name.clone(),
                    msg: format!(
                        "measure `{name}`: the inventory gives it in `{unit}`, the framework declares `{}`",
                        m.unit
                    ),
                });
            }
            fed.push(name);
        }
    }
    // One pass over the (month, department, team) totals, into company, department and team.
    let mut company: BTreeMap<Period, Totals> = BTreeMap::new();
    let mut departments: BTreeMap<&str, BTreeMap<Period, Totals>> = BTreeMap::new();
    let mut teams: BTreeMap<(&str, &str), BTreeMap<Period, Totals>> = BTreeMap::new();
    for ((month, dept, team), t) in &inv.monthly {
        company.entry(*month).or_default().add(t);
        departments
            .entry(dept)
            .or_default()
            .entry(*month)
            .or_default()
            .add(t);
        if !team.is_empty() {
            teams
                .entry((dept, team))
                .or_default()
                .entry(*month)
                .or_default()
                .add(t);
        }
    }
    let as_measures = |months: BTreeMap<Period, Totals>| {
        let mut m = Measures::new();
        for (period, t) in months {
            for ((name, _), v) in INVENTORY_MEASURES.iter().zip(t.measure_values()) {
                if fed.contains(name) {
                    m.insert(period, name, v);
                }
            }
        }
        m
    };
    let org = OrgMeasures {
        company: as_measures(company),
        departments: departments
            .into_iter()
            .map(|(d, months)| (d.to_string(), as_measures(months)))
            .collect(),
        teams: teams
            .into_iter()
            .map(|((d, t), months)| ((d.to_string(), t.to_string()), as_measures(months)))
            .collect(),
    };
    Ok((org, fed))
}
