//! Tests of home bundles: a round trip on both engines, and every kind of bad bundle refused
//! with nothing written.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::Utc;

use super::{BundleError, BundleLimits, export, import, import_with, verify};
use crate::home::{Home, KeyProtection, Passphrase};
use crate::node::{Host, Node};
use crate::seal::{Kek, KeySealer};
use crate::store::{Delivery, EngineKind, Table};
use crate::testkit::{archive_to, open, write_many};

fn pass() -> Passphrase {
    Passphrase::new(b"move me".to_vec())
}

fn kek() -> Arc<dyn KeySealer> {
    use base64::Engine as _;
    let text = base64::engine::general_purpose::STANDARD.encode([5u8; 32]);
    Arc::new(Kek::from_base64(&text, "test").unwrap())
}

fn publish(node: &Node, n: usize) {
    let docs: Vec<_> = (0..n)
        .map(|_| {
            let mut fp = crate::pact::fixtures::example();
            fp["id"] = uuid::Uuid::new_v4().to_string().into();
            fp["companyIds"] = serde_json::json!([node.company_id()]);
            fp.to_string()
        })
        .collect();
    node.publish(&format!("[{}]", docs.join(","))).unwrap();
}

/// A node with footprints, a rotated key, archived and stored audit entries and an outbox
/// item, closed; returns its home.
fn populated(dir: &Path, engine: EngineKind) -> Home {
    let node = open(dir, engine);
    publish(&node, 3);
    node.rotate_key().unwrap();
    write_many(&node, 0..40);
    let segment = node.archive_dir().join("first.jsonl");
    std::fs::create_dir_all(node.archive_dir()).unwrap();
    archive_to(&node, Utc::now() + chrono::Duration::days(1), &segment);
    write_many(&node, 40..50);
    let item = crate::exchange::new_item(
        node.clock(),
        "urn:tanso:company:partner",
        Delivery::CardUpdate {
            key_id: node.key().key_id().to_string(),
        },
    );
    node.store().enqueue(&[item]).unwrap();
    let home = node.home().clone();
    drop(node);
    home
}

fn round_trip(engine: EngineKind) {
    let dir = tempfile::tempdir().unwrap();
    let home = populated(&dir.path().join("src"), engine);
    let before = Node::open(&home, Host::offline()).unwrap();
    let key_id = before.key().key_id().to_string();
    let audit_before = before.audit_verify().unwrap();
    assert!(audit_before.ok, "{:?}", audit_before.problems);

    // While the store is open (a node serves it), the export is refused.
    let bundle = dir.path().join("acme.tanso");
    let err = export(&home, &bundle, &pass(), Utc::now()).unwrap_err();
    assert!(matches!(err, BundleError::InUse { .. }), "{err}");
    assert!(err.to_string().contains("stop the node"), "{err}");
    assert!(!bundle.exists());
    drop(before);

    let exported = export(&home, &bundle, &pass(), Utc::now()).unwrap();
    assert_eq!(exported.key_id, key_id);
    assert_eq!(exported.engine, engine.name());
    let checked = verify(&bundle, None).unwrap();
    assert_eq!(checked.files, exported.files);
    assert!(checked.tls_identity);

    // The node key is never in the bundle in plaintext.
    let mut raw = Vec::new();
    std::fs::File::open(&bundle)
        .unwrap()
        .read_to_end(&mut raw)
        .unwrap();
    let text = String::from_utf8_lossy(&raw);
    assert!(text.contains("BEGIN ENCRYPTED PRIVATE KEY"));
    let plain = home.load_key().unwrap().to_pem().unwrap();
    let body = plain.lines().nth(1).unwrap();
    assert!(!text.contains(body), "the node key in plaintext");

    for sealed in [false, true] {
        let dest = Home::new(dir.path().join(format!("dst-{sealed}")));
        let seal = sealed.then(kek);
        let summary = import(&bundle, &dest, &pass(), seal.clone()).unwrap();
        assert_eq!(summary.key_id, key_id);
        let opened = match &seal {
            Some(s) => Home::new(&dest.dir).with_sealer(s.clone()),
            None => Home::new(&dest.dir).with_passphrase(Some(pass())),
        };
        let expected = if sealed {
            KeyProtection::Sealed
        } else {
            KeyProtection::Passphrase
        };
        assert_eq!(opened.key_protection().unwrap(), expected);
        let node = Node::open(&opened, Host::offline()).unwrap();
        assert_eq!(node.key().key_id(), key_id);
        assert_eq!(node.keys().snapshot().1.len(), 1, "key history");
        assert_eq!(node.footprints().unwrap().len(), 3);
        let report = node.audit_verify().unwrap();
        assert!(report.ok, "{:?}", report.problems);
        assert_eq!(report.entries, audit_before.entries);
        let segments = vec![node.archive_dir().join("first.jsonl")];
        let history = node.audit_verify_history(&segments).unwrap();
        assert!(history.ok, "{:?}", history.problems);
        assert_eq!(node.store().count(Table::Outbox).unwrap(), 1);
        drop(node);
        let mode = |p: &Path| {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::metadata(p).unwrap().permissions().mode() & 0o777
        };
        assert_eq!(mode(&dest.key_path()), 0o600);
        assert_eq!(mode(&dest.tls_key_path()), 0o600);
        assert_eq!(mode(&dest.dir), 0o700);
    }

    // A home is imported only into a new directory.
    let err = import(
        &bundle,
        &Home::new(dir.path().join("dst-false")),
        &pass(),
        None,
    )
    .unwrap_err();
    assert!(matches!(err, BundleError::DestinationExists(_)), "{err}");
    // The wrong passphrase is refused before anything is written.
    let dest = Home::new(dir.path().join("wrong"));
    let err = import(&bundle, &dest, &Passphrase::new(b"no".to_vec()), None).unwrap_err();
    assert!(err.is_locked_key(), "{err}");
    assert!(!dest.dir.exists());
}

#[test]
fn a_home_round_trips_on_redb() {
    round_trip(EngineKind::Redb);
}

#[test]
fn a_home_round_trips_on_sled() {
    round_trip(EngineKind::Sled);
}

/// One tar entry as the tests rewrite bundles.
struct Raw {
    name: String,
    data: Vec<u8>,
    kind: tar::EntryType,
    mode: u32,
}

fn read_entries(bundle: &Path) -> Vec<Raw> {
    let mut archive = tar::Archive::new(std::fs::File::open(bundle).unwrap());
    archive
        .entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let mut data = Vec::new();
            e.read_to_end(&mut data).unwrap();
            Raw {
                name: String::from_utf8(e.path_bytes().into_owned()).unwrap(),
                data,
                kind: e.header().entry_type(),
                mode: e.header().mode().unwrap(),
            }
        })
        .collect()
}

/// Writes entries as a tar, names byte for byte (so `..` and absolute names are possible).
fn write_entries(path: &Path, entries: &[Raw]) {
    let mut builder = tar::Builder::new(std::fs::File::create(path).unwrap());
    for e in entries {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(e.kind);
        header.set_size(e.data.len() as u64);
        header.set_mode(e.mode);
        if e.kind == tar::EntryType::Symlink {
            header.set_link_name("/etc/passwd").unwrap();
        }
        let name = &mut header.as_old_mut().name;
        assert!(e.name.len() < name.len(), "test names are short");
        name.fill(0);
        name[..e.name.len()].copy_from_slice(e.name.as_bytes());
        header.set_cksum();
        builder.append(&header, e.data.as_slice()).unwrap();
    }
    builder.finish().unwrap();
}

fn manifest_of(entries: &[Raw]) -> serde_json::Value {
    serde_json::from_slice(&entries[0].data).unwrap()
}

/// Imports `bundle` into a fresh destination beside it and returns the error; checks that
/// nothing at all was written.
fn refused(dir: &Path, bundle: &Path, limits: &BundleLimits) -> String {
    let parent = dir.join("imports");
    std::fs::create_dir_all(&parent).unwrap();
    let dest = Home::new(parent.join("dest"));
    let err = import_with(bundle, &dest, &pass(), None, limits)
        .expect_err("a bad bundle must be refused");
    let left: Vec<PathBuf> = std::fs::read_dir(&parent)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(left.is_empty(), "an import left {left:?} behind ({err})");
    err.to_string()
}

#[test]
fn every_altered_bundle_is_refused_with_nothing_written() {
    let dir = tempfile::tempdir().unwrap();
    let home = populated(&dir.path().join("src"), EngineKind::Redb);
    let bundle = dir.path().join("good.tanso");
    export(&home, &bundle, &pass(), Utc::now()).unwrap();
    let other = dir.path().join("other.tanso");
    export(
        &home,
        &other,
        &pass(),
        Utc::now() + chrono::Duration::seconds(1),
    )
    .unwrap();
    let good = read_entries(&bundle);
    let limits = BundleLimits::default();
    let bad = dir.path().join("bad.tanso");
    // Sanity: the rewritten good bundle imports.
    write_entries(&bad, &good);
    verify(&bad, Some(&pass())).unwrap();

    // A flipped byte in any entry.
    for i in 0..good.len() {
        let mut entries = read_entries(&bundle);
        if entries[i].data.is_empty() {
            continue;
        }
        let at = entries[i].data.len() / 2;
        entries[i].data[at] ^= 0x20;
        write_entries(&bad, &entries);
        let err = refused(dir.path(), &bad, &limits);
        assert!(err.contains(&good[i].name), "entry {}: {err}", good[i].name);
    }

    // A forged manifest: a file's digest changed to match altered bytes.
    let mut entries = read_entries(&bundle);
    let config = entries
        .iter()
        .position(|e| e.name == "home/config.toml")
        .unwrap();
    entries[config].data.extend_from_slice(b"\n# forged\n");
    let mut manifest = manifest_of(&entries);
    for f in manifest["files"].as_array_mut().unwrap() {
        if f["path"] == "config.toml" {
            f["size"] = entries[config].data.len().into();
            f["sha256"] = hex::encode(crate::crypto::sha256(&entries[config].data)).into();
        }
    }
    entries[0].data = serde_json::to_vec_pretty(&manifest).unwrap();
    write_entries(&bad, &entries);
    let err = refused(dir.path(), &bad, &limits);
    assert!(
        err.contains("manifest.sig") && err.contains("does not verify"),
        "{err}"
    );

    // A manifest.sig swapped in from another export of the same home.
    let mut entries = read_entries(&bundle);
    entries[1].data = read_entries(&other)[1].data.clone();
    write_entries(&bad, &entries);
    let err = refused(dir.path(), &bad, &limits);
    assert!(err.contains("does not verify"), "{err}");

    // Path traversal, an absolute path, a symlink, an extra file: refused by name.
    for (name, kind) in [
        ("home/../evil", tar::EntryType::Regular),
        ("/etc/evil", tar::EntryType::Regular),
        ("home/tls/link", tar::EntryType::Symlink),
        ("home/extra.json", tar::EntryType::Regular),
    ] {
        let mut entries = read_entries(&bundle);
        entries.insert(
            2,
            Raw {
                name: name.into(),
                data: if kind == tar::EntryType::Symlink {
                    Vec::new()
                } else {
                    b"x".to_vec()
                },
                kind,
                mode: 0o644,
            },
        );
        write_entries(&bad, &entries);
        let err = refused(dir.path(), &bad, &limits);
        assert!(err.contains(name), "{name}: {err}");
    }

    // A file the manifest lists that the bundle lacks.
    let mut entries = read_entries(&bundle);
    entries.retain(|e| e.name != "home/key-history.json");
    write_entries(&bad, &entries);
    let err = refused(dir.path(), &bad, &limits);
    assert!(
        err.contains("home/key-history.json") && err.contains("missing"),
        "{err}"
    );

    // An entry larger than the import's bound.
    let small = BundleLimits {
        max_file_bytes: 4096,
        ..BundleLimits::default()
    };
    let err = refused(dir.path(), &bundle, &small);
    assert!(err.contains("more than the 4096 allowed"), "{err}");
    let few = BundleLimits {
        max_files: 2,
        ..BundleLimits::default()
    };
    let err = refused(dir.path(), &bundle, &few);
    assert!(err.contains("more than the 2 allowed"), "{err}");
}
