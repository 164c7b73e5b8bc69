//! The edge crates reach node state only through core's narrow operations: none of them
//! names the store, the journal, the daily counters or the nonce cache.

use std::path::{Path, PathBuf};

/// The crates that must not reach into node state.
const EDGES: [&str; 5] = ["grpc", "pact-api", "dashboard", "directory", "relay"];

/// The accessors only core (and the runtime, for now) may call.
const WIDE: [&str; 4] = [".store()", ".journal()", ".daily()", ".nonces()"];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|x| x == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn no_edge_crate_reaches_into_node_state() {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut found = Vec::new();
    let mut scanned = 0;
    for edge in EDGES {
        let mut files = Vec::new();
        rust_files(&crates.join(edge).join("src"), &mut files);
        for file in files {
            scanned += 1;
            let text = std::fs::read_to_string(&file)
                .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            for (n, line) in text.lines().enumerate() {
                if WIDE.iter().any(|w| line.contains(w)) {
                    found.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
                }
            }
        }
    }
    assert!(
        scanned > 20,
        "only {scanned} edge sources found under {}",
        crates.display()
    );
    assert!(
        found.is_empty(),
        "edge crates call core's wide accessors; use the narrow operations \
         (Node::audit, Node::exchange, Node::check_nonce, ...):\n{}",
        found.join("\n")
    );
}
