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

/// The measures the inventory feeds and the unit each is in (a framework that declares one of
/// them must declare it in this unit).
pub const INVENTORY_MEASURES: [(&str, &str); 6] = [
    ("scope1_kg", "kgCO2e"),
    ("scope2_kg", "kgCO2e"),
    ("scope2_market_kg", "kgCO2e"),
    ("fuel_l", "L"),
    ("electricity_kwh", "kWh"),
    ("renewable_kwh", "kWh"),
];

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
    let as_measures = |months: BTreeMap<Period, Totals>| {
        let mut m = Measures::new();
        for (period, t) in months {
            let values = [
                t.scope1().kg(),
                t.scope2_location.kg(),
                t.scope2_market.kg(),
                t.fuel_litres,
                t.electricity_kwh,
                t.renewable_kwh,
            ];
            for ((name, _), v) in INVENTORY_MEASURES.iter().zip(values) {
                if fed.contains(name) {
                    m.insert(period, name, v);
                }
            }
        }
        m
    };
    let mut org = OrgMeasures {
        company: as_measures(inv.by_month(|_, _| true)),
        ..OrgMeasures::default()
    };
    for (_, dept, team) in inv.monthly.keys() {
        if !org.departments.contains_key(&**dept) {
            let m = as_measures(inv.by_month(|d, _| d == &**dept));
            org.departments.insert(dept.to_string(), m);
        }
        let key = (dept.to_string(), team.to_string());
        if !team.is_empty() && !org.teams.contains_key(&key) {
            let m = as_measures(inv.by_month(|d, t| d == &**dept && t == &**team));
            org.teams.insert(key, m);
        }
    }
    Ok((org, fed))
}
