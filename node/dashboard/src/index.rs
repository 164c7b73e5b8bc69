//! What the dashboard derives from the store, kept off the request path: exchange volume and
//! footprint recipients (an incremental pass over new audit entries), the audit chain status
//! (a whole-chain walk in the background whenever the head has moved), and a sorted summary
//! of own footprints (rebuilt when the footprint count or the active count changes).
//!
//! Exchange totals and per-day counts are since the start of the log: entries archived out
//! of the store count through the counts the archive anchor keeps. Recipients, callers and
//! the last 24 h count the entries read from the store.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::Serialize;

use tanso_core::audit::{AuditEntry, ChainReport, Exchange};
use tanso_core::node::Node;

/// Audit entries read per store page.
const PAGE: usize = 4096;
/// Least time between two whole-chain verifications; at least ten times the last walk
/// took, so a long chain under steady traffic costs at most a tenth of a core.
const VERIFY_EVERY: Duration = Duration::from_secs(5);
/// Days of exchange volume kept for the chart.
const DAYS_KEPT: usize = 60;

/// Who received a footprint (or a product's footprints), per caller.
#[derive(Debug, Clone, Serialize)]
pub struct Receipt {
    pub company: String,
    pub count: u64,
    pub last_at: String,
}

/// Exchange statistics over the audit log.
#[derive(Debug, Default)]
pub struct AuditStats {
    /// The next sequence number to read.
    next_seq: u64,
    /// Whether the first full pass has completed.
    pub ready: bool,
    pub permitted: u64,
    pub denied: u64,
    pub errors: u64,
    /// Times of permitted requests in (about) the last 24 h, oldest first.
    recent: VecDeque<DateTime<Utc>>,
    /// Lowercase target (footprint or product id) → caller → (count, last at).
    recipients: HashMap<String, BTreeMap<String, (u64, String)>>,
    /// Caller → (requests, last at).
    pub callers: HashMap<String, (u64, String)>,
    /// yyyy-mm-dd → (permitted, denied).
    pub days: BTreeMap<String, (u64, u64)>,
}

impl AuditStats {
    /// Stats that start after the archived entries, with their counts.
    fn from_archived(next_seq: u64, counts: &tanso_core::audit::ArchivedCounts) -> AuditStats {
        let mut days: BTreeMap<String, (u64, u64)> = counts
            .days
            .iter()
            .map(|(day, [p, d])| (day.clone(), (*p, *d)))
            .collect();
        while days.len() > DAYS_KEPT {
            days.pop_first();
        }
        AuditStats {
            next_seq,
            permitted: counts.permitted,
            denied: counts.denied,
            errors: counts.errors,
            days,
            ..AuditStats::default()
        }
    }

    fn apply(&mut self, entry: &AuditEntry) {
        self.next_seq = entry.seq + 1;
        let d = &entry.draft;
        if !entry.by_peer() {
            return;
        }
        let at = DateTime::parse_from_rfc3339(&entry.at)
            .map(|t| t.with_timezone(&Utc))
            .ok();
        let day = entry.at.get(..10).unwrap_or_default().to_string();
        let slot = self.days.entry(day).or_default();
        match entry.exchange() {
            Exchange::Permitted => {
                self.permitted += 1;
                slot.0 += 1;
                if let Some(at) = at
                    && at > Utc::now() - chrono::Duration::hours(24)
                {
                    self.recent.push_back(at);
                }
                if tanso_core::disclosure::is_read(&d.method) {
                    for t in &d.targets {
                        let per = self.recipients.entry(t.to_ascii_lowercase()).or_default();
                        let r = per.entry(d.caller.clone()).or_insert((0, String::new()));
                        r.0 += 1;
                        r.1.clone_from(&entry.at);
                    }
                }
            }
            Exchange::Denied => {
                self.denied += 1;
                slot.1 += 1;
            }
            Exchange::Other => self.errors += 1,
        }
        while self.days.len() > DAYS_KEPT {
            self.days.pop_first();
        }
        let c = self
            .callers
            .entry(d.caller.clone())
            .or_insert((0, String::new()));
        c.0 += 1;
        c.1.clone_from(&entry.at);
    }

    /// Permitted requests in the last 24 h.
    pub fn last_24h(&mut self) -> u64 {
        let cut = Utc::now() - chrono::Duration::hours(24);
        while self.recent.front().is_some_and(|t| *t <= cut) {
            self.recent.pop_front();
        }
        self.recent.len() as u64
    }

    /// Recipients of a footprint: by its id and by any of its product ids.
    pub fn recipients(&self, id: &str, product_ids: &[String]) -> Vec<Receipt> {
        let mut merged: BTreeMap<&str, (u64, &str)> = BTreeMap::new();
        let keys = std::iter::once(id.to_ascii_lowercase())
            .chain(product_ids.iter().map(|p| p.to_ascii_lowercase()));
        for key in keys {
            if let Some(per) = self.recipients.get(&key) {
                for (caller, (n, at)) in per {
                    let m = merged.entry(caller).or_insert((0, ""));
                    m.0 += n;
                    if at.as_str() > m.1 {
                        m.1 = at;
                    }
                }
            }
        }
        merged
            .into_iter()
            .map(|(company, (count, last_at))| Receipt {
                company: company.to_string(),
                count,
                last_at: last_at.to_string(),
            })
            .collect()
    }
}

/// The audit chain status as last verified.
#[derive(Debug, Clone, Serialize)]
pub struct ChainStatus {
    /// "pending" (not verified yet), "ok" or "broken".
    pub status: &'static str,
    /// Entries the last verification covered.
    pub verified_entries: u64,
    pub checked_at: Option<String>,
    pub problems: Vec<String>,
}

#[derive(Default)]
struct ChainState {
    report: Option<(ChainReport, String)>,
    last_run: Option<Instant>,
    last_took: Duration,
}

/// A row of the footprints table.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FootprintRow {
    pub id: String,
    pub product_ids: Vec<String>,
    pub product_name: String,
    pub status: &'static str,
    pub pcf: String,
    pub declared_unit: String,
    pub reference_period_end: String,
    pub published_at: String,
    /// Earlier versions this footprint replaces.
    pub preceding: Vec<String>,
    /// Later versions that replace this one.
    pub superseded_by: Vec<String>,
    /// Position in its version chain (1 = first).
    pub version: u32,
}

struct FootprintCache {
    key: (u64, usize),
    rows: Arc<Vec<FootprintRow>>,
}

/// Everything the dashboard derives and caches.
pub struct Index {
    node: Node,
    stats: Mutex<AuditStats>,
    scan: Mutex<()>,
    chain: Mutex<ChainState>,
    footprints: Mutex<Option<FootprintCache>>,
    build: Mutex<()>,
}

/// Errors while indexing (store trouble).
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error(transparent)]
    Store(#[from] tanso_core::store::StoreError),
    #[error(transparent)]
    Node(#[from] tanso_core::NodeError),
}

impl Index {
    pub fn new(node: Node) -> Index {
        Index {
            node,
            stats: Mutex::default(),
            scan: Mutex::default(),
            chain: Mutex::default(),
            footprints: Mutex::default(),
            build: Mutex::default(),
        }
    }

    /// Reads audit entries not seen yet, at most `budget` (`None`: all) and only if no other
    /// pass runs (`wait` false). Blocking. Returns whether the index is now up to date.
    pub fn catch_up(&self, budget: Option<usize>, wait: bool) -> Result<bool, IndexError> {
        let _scan = if wait {
            self.scan.lock().unwrap_or_else(|p| p.into_inner())
        } else {
            match self.scan.try_lock() {
                Ok(g) => g,
                Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
                Err(std::sync::TryLockError::WouldBlock) => return Ok(false),
            }
        };
        let mut left = budget.unwrap_or(usize::MAX);
        // Entries and anchor from one snapshot: entries archived before this pass read them
        // count through the anchor instead (the stats then start over from it).
        let snapshot = self.node.audit().snapshot()?;
        let anchor: Option<tanso_core::audit::AuditAnchor> = snapshot
            .anchor()
            .map(serde_json::from_slice)
            .transpose()
            .map_err(|e| tanso_core::store::StoreError::Corrupt {
                table: "meta",
                reason: format!("audit anchor: {e}"),
            })?;
        let mut from = {
            let mut stats = self.lock_stats();
            if let Some(anchor) = &anchor
                && anchor.next_seq > stats.next_seq
            {
                let ready = stats.ready;
                *stats = AuditStats::from_archived(anchor.next_seq, &anchor.counts);
                stats.ready = ready;
            }
            stats.next_seq
        };
        loop {
            if left == 0 {
                return Ok(false);
            }
            let page = snapshot.entries(from, PAGE.min(left))?;
            let done = page.len() < PAGE.min(left);
            left -= page.len();
            let entries: Vec<AuditEntry> = page
                .iter()
                .filter_map(|(_, raw)| serde_json::from_slice(raw).ok())
                .collect();
            let mut stats = self.lock_stats();
            for e in &entries {
                stats.apply(e);
            }
            if let Some((last, _)) = page.last() {
                stats.next_seq = last + 1;
            }
            from = stats.next_seq;
            if done {
                stats.ready = true;
                return Ok(true);
            }
        }
    }

    pub fn lock_stats(&self) -> std::sync::MutexGuard<'_, AuditStats> {
        self.stats.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The number of audit entries since the start (last seq + 1), archived ones included.
    pub fn audit_len(&self) -> Result<u64, IndexError> {
        Ok(self.node.audit_len()?.0)
    }

    /// Verifies the whole chain if the head moved since the last verification and the last
    /// run is old enough. Blocking (a whole-chain walk).
    pub fn verify_if_due(&self, force: bool) -> Result<(), IndexError> {
        let before = self.audit_len()?;
        {
            let state = self.chain.lock().unwrap_or_else(|p| p.into_inner());
            let covered = state.report.as_ref().map(|(r, _)| r.entries);
            let pause = VERIFY_EVERY.max(state.last_took * 10);
            let recent = state.last_run.is_some_and(|t| t.elapsed() < pause);
            let broken = state.report.as_ref().is_some_and(|(r, _)| !r.ok);
            if covered == Some(before) && !broken {
                return Ok(());
            }
            if covered.is_some() && recent && !force {
                return Ok(());
            }
        }
        let started = Instant::now();
        // Entries and head come from one snapshot, so appends during the walk are not
        // mistaken for a break.
        let report = self.node.audit_verify()?;
        let at = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let mut state = self.chain.lock().unwrap_or_else(|p| p.into_inner());
        state.report = Some((report, at));
        state.last_run = Some(Instant::now());
        state.last_took = started.elapsed();
        Ok(())
    }

    pub fn chain_status(&self) -> ChainStatus {
        let state = self.chain.lock().unwrap_or_else(|p| p.into_inner());
        match &state.report {
            None => ChainStatus {
                status: "pending",
                verified_entries: 0,
                checked_at: None,
                problems: Vec::new(),
            },
            Some((r, at)) => ChainStatus {
                status: if r.ok { "ok" } else { "broken" },
                verified_entries: r.entries,
                checked_at: Some(at.clone()),
                problems: r.problems.iter().take(20).cloned().collect(),
            },
        }
    }

    /// (footprints, active footprints), cheap enough per request.
    pub fn footprint_counts(&self) -> Result<(u64, usize), IndexError> {
        Ok(self.node.footprint_counts()?)
    }

    /// All own footprints as rows, newest first; rebuilt when the counts changed. Blocking.
    pub fn footprint_rows(&self) -> Result<Arc<Vec<FootprintRow>>, IndexError> {
        let key = self.footprint_counts()?;
        if let Some(c) = &*self.footprints.lock().unwrap_or_else(|p| p.into_inner())
            && c.key == key
        {
            return Ok(c.rows.clone());
        }
        let _build = self.build.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = &*self.footprints.lock().unwrap_or_else(|p| p.into_inner())
            && c.key == key
        {
            return Ok(c.rows.clone());
        }
        let all = self.node.footprints()?;
        let mut successors: HashMap<String, Vec<String>> = HashMap::new();
        let mut preceding_of: HashMap<String, Vec<String>> = HashMap::new();
        for own in &all {
            let fp = &own.footprint;
            let pre: Vec<String> = fp
                .preceding_pf_ids
                .clone()
                .unwrap_or_default()
                .into_iter()
                .map(|p| p.to_ascii_lowercase())
                .collect();
            for p in &pre {
                successors
                    .entry(p.clone())
                    .or_default()
                    .push(fp.id.to_ascii_lowercase());
            }
            preceding_of.insert(fp.id.to_ascii_lowercase(), pre);
        }
        let version = |id: &str| {
            // Length of the longest preceding chain, bounded against cycles.
            let mut n = 1u32;
            let mut cur = id.to_string();
            while n < 1000 {
                match preceding_of.get(&cur).and_then(|p| p.first()) {
                    Some(p) => {
                        cur.clone_from(p);
                        n += 1;
                    }
                    None => break,
                }
            }
            n
        };
        let mut rows: Vec<FootprintRow> = all
            .iter()
            .map(|own| {
                let fp = &own.footprint;
                let lid = fp.id.to_ascii_lowercase();
                FootprintRow {
                    id: fp.id.clone(),
                    product_ids: fp.product_ids.clone(),
                    product_name: fp.product_name_company.clone(),
                    status: fp.status.as_str(),
                    pcf: fp.pcf.pcf_excluding_biogenic_uptake.as_str().to_string(),
                    declared_unit: fp.pcf.declared_unit_of_measurement.as_str().to_string(),
                    reference_period_end: fp.pcf.reference_period_end.clone(),
                    published_at: own.published_at.clone(),
                    preceding: fp.preceding_pf_ids.clone().unwrap_or_default(),
                    superseded_by: successors.get(&lid).cloned().unwrap_or_default(),
                    version: version(&lid),
                }
            })
            .collect();
        rows.sort_by(|a, b| {
            b.published_at
                .cmp(&a.published_at)
                .then_with(|| a.id.cmp(&b.id))
        });
        let rows = Arc::new(rows);
        *self.footprints.lock().unwrap_or_else(|p| p.into_inner()) = Some(FootprintCache {
            key,
            rows: rows.clone(),
        });
        Ok(rows)
    }
}
