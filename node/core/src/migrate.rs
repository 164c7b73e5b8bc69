//! `tanso store migrate`: moving a stopped node's store to the other engine, all or nothing.
//!
//! Order, so that a crash at any step leaves a home that opens with all its data: copy into a
//! scratch directory and compare every table with the original (`store::migrate`); move the
//! copy into place; switch `[store] engine` in config.toml; open the node on the new engine
//! and verify its audit chain (and that it holds as many entries as the original); only then
//! set the old engine's files aside (renamed, never deleted). A failed check switches the
//! config back and sets the copy aside instead.

use serde::Serialize;

use crate::error::NodeError;
use crate::home::Home;
use crate::node::Node;
use crate::store::{self, EngineKind, TableCopy};

/// What a migration did.
#[derive(Debug, Clone, Serialize)]
pub struct MigrateReport {
    pub from: &'static str,
    pub to: &'static str,
    /// Each table with its entry count and digest (equal in both engines).
    pub tables: Vec<TableCopy>,
    /// Entries of the audit chain verified on the new engine.
    pub audit_entries: u64,
    /// Where the old engine's files were set aside (delete them when satisfied).
    pub old_store: String,
}

/// Migrates the store of the (stopped) node in `home` to engine `to`.
pub fn migrate_store(home: &Home, to: EngineKind) -> Result<MigrateReport, NodeError> {
    let mut raw = home.load_raw_config()?;
    let configured: EngineKind = raw.store.engine.parse()?;
    let from = to.other();
    let dir = home.store_dir();
    if configured == to && !store::holds_data(&from.path_in(&dir)) {
        return Err(NodeError::Conflict(format!(
            "the store is already on {} (config.toml says so and there is no {} store to convert)",
            to.name(),
            from.name()
        )));
    }
    // Opening the source takes the engine's lock: a serving node makes this fail with
    // "store is in use", and nothing is changed.
    let cache_mib = raw.store.cache_mib;
    let (copy, tables) = store::migrate::copy_to_scratch(&dir, from, to, cache_mib)?;
    let audit_expected = tables
        .iter()
        .find(|t| t.table == store::Table::Audit.name())
        .map_or(0, |t| t.entries);
    let installed = store::migrate::install_copy(&dir, to, &copy)?;
    raw.store.engine = to.name().to_string();
    home.save_raw_config(&raw)?;

    let verified =
        Node::open(home, crate::node::Host::offline()).and_then(|node| node.audit_verify());
    // The chain in the store starts after the archived entries (`report.archived`).
    let stored = |report: &crate::audit::ChainReport| report.entries - report.archived;
    let failure = match &verified {
        Ok(report) if report.ok && stored(report) == audit_expected => None,
        Ok(report) => Some(format!(
            "the audit chain on {} does not verify ({} entries in the store, {} expected): {}",
            to.name(),
            stored(report),
            audit_expected,
            report.problems.join("; ")
        )),
        Err(e) => Some(format!("the node does not open on {}: {e}", to.name())),
    };
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string();
    if let Some(failure) = failure {
        raw.store.engine = from.name().to_string();
        home.save_raw_config(&raw)?;
        let aside = store::migrate::set_aside(&dir, to, &stamp)?;
        return Err(NodeError::Internal(format!(
            "{failure}; config.toml is back on {} and the copy was moved to {}",
            from.name(),
            aside.display()
        )));
    }
    let audit_entries = verified.map(|r| stored(&r)).unwrap_or_default();
    let old_store = store::migrate::set_aside(&dir, from, &stamp)?;
    tracing::info!(
        from = from.name(),
        to = to.name(),
        store = %installed.display(),
        "store migrated"
    );
    Ok(MigrateReport {
        from: from.name(),
        to: to.name(),
        tables,
        audit_entries,
        old_store: old_store.display().to_string(),
    })
}
