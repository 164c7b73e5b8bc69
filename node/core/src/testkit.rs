//! Helpers for tests of audited nodes (this crate's and the crates above, through the
//! `test-support` feature): a node on either engine, audit entries written through the
//! journal, the stored entries, an archive.

use std::path::Path;

use chrono::{DateTime, Utc};

use crate::archive::{ArchiveOut, ArchiveOutcome};
use crate::audit::{AuditDecision, AuditDraft, AuditEntry};
use crate::config::RawConfig;
use crate::home::Home;
use crate::journal::Record;
use crate::node::Node;
use crate::store::EngineKind;

pub fn open_with(dir: &Path, engine: EngineKind, extra: &str) -> Node {
    let engine = match engine {
        EngineKind::Redb => "redb",
        EngineKind::Sled => "sled",
    };
    let text = format!(
        "company_id = \"urn:tanso:company:audited\"\nname = \"audited\"\n{extra}[store]\nengine = \"{engine}\"\n"
    );
    let raw = RawConfig::parse(&text, "test.toml").unwrap();
    let home = Home::new(dir);
    if !home.exists() {
        home.init(&raw, &[7; 32]).unwrap();
    }
    Node::open(&home, crate::node::Host::offline()).unwrap()
}

pub fn open(dir: &Path, engine: EngineKind) -> Node {
    open_with(dir, engine, "")
}

pub fn draft(n: u64) -> AuditDraft {
    AuditDraft {
        caller: if n.is_multiple_of(11) {
            "local".into()
        } else {
            format!("urn:tanso:company:c{}", n % 7)
        },
        method: "/tanso.v1.Connector/GetFootprint".into(),
        targets: vec![format!("fp-{n}")],
        decision: match n % 10 {
            0 | 5 => AuditDecision::Deny,
            9 => AuditDecision::Error,
            _ => AuditDecision::Permit,
        },
        rule: None,
        reason: None,
    }
}

pub fn record(n: u64) -> Record {
    Record {
        audit: Some(draft(n)),
        ..Record::default()
    }
}

/// Writes entries `range` through the journal, many per batch.
pub fn write_many(node: &Node, range: std::ops::Range<u64>) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        let writes = range.map(|n| node.journal().write(record(n)));
        for result in futures::future::join_all(writes).await {
            result.unwrap();
        }
    });
}

/// The entries in the store, parsed.
pub fn stored(node: &Node) -> Vec<AuditEntry> {
    let mut out = Vec::new();
    node.audit_export(&mut out).unwrap();
    String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

pub fn archive_to(node: &Node, before: DateTime<Utc>, path: &Path) -> ArchiveOutcome {
    node.audit_archive(before, &ArchiveOut::File(path.to_path_buf()))
        .unwrap()
}
