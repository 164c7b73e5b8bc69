//! Copying a store to the other engine (`tanso store migrate`), with the node stopped.
//!
//! The copy is made in a scratch directory beside the engines' files, table by table in
//! bounded pages, then both stores are read back and compared table by table (entry count
//! and a SHA-256 over every key and value in key order). Only a copy that matches is moved
//! into place; the caller then switches the config and verifies the audit chain through the
//! node before the old engine's files are set aside.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::{Engine, EngineKind, Op, StoreError, Table, redb_engine, sled_engine};

/// Entries copied per batch.
const PAGE: usize = 4096;

/// Name of the scratch directory inside the store directory.
const SCRATCH: &str = "migrate.tmp";

/// One table as copied and checked.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TableCopy {
    pub table: String,
    pub entries: u64,
    /// SHA-256 over (key length, key, value length, value) of every entry in key order.
    pub sha256: String,
}

fn engine_error(what: &str, path: &Path, e: impl std::fmt::Display) -> StoreError {
    StoreError::Engine(format!("{what} {}: {e}", path.display()))
}

fn open_engine(
    kind: EngineKind,
    path: &Path,
    cache_mib: u32,
) -> Result<Box<dyn Engine>, StoreError> {
    let cache = cache_mib as usize * 1024 * 1024;
    Ok(match kind {
        EngineKind::Redb => Box::new(redb_engine::RedbEngine::open(path, cache)?),
        EngineKind::Sled => Box::new(sled_engine::SledEngine::open(path, cache)?),
    })
}

/// Copies the `from` store in `dir` to a new `to` store in a scratch directory and checks
/// the copy against the original. Returns the scratch path of the copy and what each table
/// held. Refuses when `from` holds nothing or `to` already has files in `dir`.
pub fn copy_to_scratch(
    dir: &Path,
    from: EngineKind,
    to: EngineKind,
    cache_mib: u32,
) -> Result<(PathBuf, Vec<TableCopy>), StoreError> {
    let source_path = from.path_in(dir);
    if !super::holds_data(&source_path) {
        return Err(StoreError::NotFound(format!(
            "a {} store at {}",
            from.name(),
            source_path.display()
        )));
    }
    let target_path = to.path_in(dir);
    if target_path.exists() {
        return Err(StoreError::Conflict(format!(
            "{} already exists; move it away first (a {} store there would be replaced)",
            target_path.display(),
            to.name()
        )));
    }
    // A scratch directory left by an interrupted migration holds only a partial copy.
    let scratch = dir.join(SCRATCH);
    if scratch.exists() {
        std::fs::remove_dir_all(&scratch).map_err(|e| engine_error("removing", &scratch, e))?;
    }
    std::fs::create_dir_all(&scratch).map_err(|e| engine_error("creating", &scratch, e))?;
    let copy_path = to.path_in(&scratch);
    let source = open_engine(from, &source_path, cache_mib)?;
    let copy = open_engine(to, &copy_path, cache_mib)?;
    for table in Table::ALL {
        let mut start: Option<Vec<u8>> = None;
        loop {
            let page = source.scan(table, b"", start.as_deref(), PAGE)?;
            let Some((last, _)) = page.last() else { break };
            start = Some(successor(last));
            let n = page.len();
            let ops: Vec<Op> = page
                .into_iter()
                .map(|(k, v)| Op::Put(table, k, v))
                .collect();
            copy.apply(&ops)?;
            if n < PAGE {
                break;
            }
        }
    }
    let mut tables = Vec::with_capacity(Table::ALL.len());
    for table in Table::ALL {
        let original = digest(source.as_ref(), table)?;
        let copied = digest(copy.as_ref(), table)?;
        if original != copied {
            return Err(StoreError::Corrupt {
                table: table.name(),
                reason: format!(
                    "the {} copy differs from the original ({} entries, sha256 {} vs {} entries, sha256 {}); nothing was changed",
                    to.name(),
                    copied.entries,
                    copied.sha256,
                    original.entries,
                    original.sha256
                ),
            });
        }
        tables.push(original);
    }
    Ok((copy_path, tables))
}

/// Moves a checked copy from the scratch directory to where `to` keeps its data in `dir`.
pub fn install_copy(dir: &Path, to: EngineKind, copy_path: &Path) -> Result<PathBuf, StoreError> {
    let target = to.path_in(dir);
    std::fs::rename(copy_path, &target).map_err(|e| engine_error("moving", copy_path, e))?;
    sync_dir(dir);
    let _ = std::fs::remove_dir_all(dir.join(SCRATCH));
    Ok(target)
}

/// Sets the files of `kind` in `dir` aside under a name no engine opens
/// (`<name>.before-migrate-<stamp>`), so a later config change cannot silently reopen them.
pub fn set_aside(dir: &Path, kind: EngineKind, stamp: &str) -> Result<PathBuf, StoreError> {
    let path = kind.path_in(dir);
    let mut aside = path.clone().into_os_string();
    aside.push(format!(".before-migrate-{stamp}"));
    let aside = PathBuf::from(aside);
    std::fs::rename(&path, &aside).map_err(|e| engine_error("moving", &path, e))?;
    sync_dir(dir);
    Ok(aside)
}

/// The smallest key after `key`.
fn successor(key: &[u8]) -> Vec<u8> {
    let mut next = Vec::with_capacity(key.len() + 1);
    next.extend_from_slice(key);
    next.push(0);
    next
}

fn digest(engine: &dyn Engine, table: Table) -> Result<TableCopy, StoreError> {
    let mut hasher = Sha256::new();
    let mut entries = 0u64;
    let mut start: Option<Vec<u8>> = None;
    loop {
        let page = engine.scan(table, b"", start.as_deref(), PAGE)?;
        let Some((last, _)) = page.last() else { break };
        start = Some(successor(last));
        let n = page.len();
        for (k, v) in &page {
            hasher.update((k.len() as u64).to_be_bytes());
            hasher.update(k);
            hasher.update((v.len() as u64).to_be_bytes());
            hasher.update(v);
            entries += 1;
        }
        if n < PAGE {
            break;
        }
    }
    Ok(TableCopy {
        table: table.name().to_string(),
        entries,
        sha256: hex::encode(hasher.finalize()),
    })
}

fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}
