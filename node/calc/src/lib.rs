//! tanso's calculations over a company's data: Scope 3 categories 1-8 and PCF composition
//! ([`scope3`]), the own Scope 1 and 2 inventory ([`inventory`]) and KPI monitoring ([`kpi`]). Depends on the model only: no store, no network,
//! no async runtime, so touching a calculation rebuilds nothing of the network stack.

mod csv_lines;
pub mod inventory;
pub mod kpi;
pub mod monitor;
pub mod scope3;
