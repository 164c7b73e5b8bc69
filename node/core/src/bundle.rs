//! Signed home bundles: a whole home exported as one file and imported elsewhere, so a
//! tenant moves between hosts, or from a host to its own machine, with nothing lost.
//!
//! A bundle is a tar file: `manifest.json` (format version, company id, key id, export
//! time, tanso version, engine, and every file's path, size, SHA-256 and mode), then
//! `manifest.sig` (an Ed25519 signature of the manifest bytes by the node key under
//! [`crate::crypto::DOMAIN_HOME_BUNDLE`], with the key id and public key), then every file of
//! the home under `home/`. The node key travels re-encrypted under a passphrase the operator
//! gives (PKCS#8 PBES2), never in plaintext and never in a host's sealed form.
//!
//! Export holds the home's store open for its whole length (its engine lock), so a serving
//! node makes it fail, and nothing writes the store while its files are copied. Import reads
//! the bundle twice: once to verify everything (bounded: entry count, each entry's size and
//! the total; only regular files at relative paths; the signature, the key's chain against
//! `key-history.json`, every file's size and digest, no extra or missing file) before it
//! writes anything, then to unpack into a temporary directory beside the destination, checking
//! each file again, which is renamed into place only when complete. A failed import leaves
//! nothing behind.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::{BufReader, BufWriter, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::{Deserialize, Serialize};

use crate::crypto::{self, CryptoError, NodeKey, Sha256Writer};
use crate::home::{Home, HomeError, KeyProtection, Passphrase};
use crate::keys::PreviousKey;
use crate::seal::KeySealer;
use crate::store::{EngineKind, Store, StoreError};

/// The `format` field of every bundle manifest.
pub const FORMAT: &str = "tanso-home-bundle";
/// The manifest format version this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;

const MANIFEST: &str = "manifest.json";
const SIGNATURE: &str = "manifest.sig";
/// Where a home's files sit inside a bundle.
const PREFIX: &str = "home/";
const KEY_FILE: &str = "node.key";
const CONFIG_FILE: &str = "config.toml";
const HISTORY_FILE: &str = "key-history.json";

/// The largest manifest read (100,000 files of ~200 bytes each fit in 20 MiB).
const MAX_MANIFEST_BYTES: u64 = 32 << 20;
/// The largest `manifest.sig`, node key, config and key history read into memory.
const MAX_SIGNATURE_BYTES: u64 = 4 << 10;
const MAX_KEY_BYTES: u64 = 64 << 10;
const MAX_CONFIG_BYTES: u64 = 1 << 20;
const MAX_HISTORY_BYTES: u64 = 16 << 20;
/// The longest path a GNU long-name entry may give.
const MAX_PATH_BYTES: u64 = 4096;
/// How deep directories of a home are walked on export.
const MAX_DEPTH: usize = 16;

/// Bounds on what an import reads from a bundle.
#[derive(Debug, Clone, Copy)]
pub struct BundleLimits {
    /// Files in the manifest.
    pub max_files: usize,
    /// Bytes of any one file (a store's engine file is the largest).
    pub max_file_bytes: u64,
    /// Bytes of all files together.
    pub max_total_bytes: u64,
}

impl Default for BundleLimits {
    fn default() -> BundleLimits {
        BundleLimits {
            max_files: 100_000,
            max_file_bytes: 64 << 30,
            max_total_bytes: 128 << 30,
        }
    }
}

/// Errors of export, import and verification. Each names the bundle or home and, for a bad
/// bundle, the entry and what is wrong with it.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Home(#[from] HomeError),
    #[error("{home} is in use ({source}); stop the node before exporting its home")]
    InUse {
        home: String,
        #[source]
        source: StoreError,
    },
    #[error("store of {home}: {source}")]
    Store {
        home: String,
        #[source]
        source: StoreError,
    },
    #[error("bundle {bundle}: {entry}: {reason}; nothing was written")]
    Invalid {
        bundle: String,
        entry: String,
        reason: String,
    },
    #[error("{0} exists; a bundle is imported into a new home only")]
    DestinationExists(String),
    #[error("{0} exists; refusing to overwrite it")]
    OutputExists(String),
    #[error("{0}")]
    Usage(String),
    #[error("bundle {bundle}: the passphrase does not decrypt its node key")]
    WrongPassphrase { bundle: String },
}

impl BundleError {
    /// Whether the bundle's key could not be unlocked (the binary exits 77 for these).
    pub fn is_locked_key(&self) -> bool {
        match self {
            BundleError::WrongPassphrase { .. } => true,
            BundleError::Home(h) => h.is_locked_key(),
            _ => false,
        }
    }
}

/// The signed description of a bundle's contents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Manifest {
    /// Always [`FORMAT`].
    pub format: String,
    pub version: u32,
    pub company_id: String,
    /// The key that signed `manifest.sig`: the home's current node key.
    pub key_id: String,
    pub exported_at: String,
    pub tanso_version: String,
    /// The store engine (`redb` or `sled`), as the home's config names it.
    pub engine: String,
    /// Every file of the home in the bundle, in bundle order.
    pub files: Vec<FileEntry>,
}

/// One file of a bundled home.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FileEntry {
    /// Relative to the home, `/`-separated.
    pub path: String,
    pub size: u64,
    /// Lowercase hex SHA-256 of the bytes.
    pub sha256: String,
    /// Unix permission bits (`0o777` at most).
    pub mode: u32,
}

/// `manifest.sig`: the node key's signature of the manifest bytes.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ManifestSignature {
    key_id: String,
    /// base64url of the 32-byte Ed25519 public key.
    public_key: String,
    /// base64url of the 64-byte signature over `DOMAIN_HOME_BUNDLE || 0 || manifest bytes`.
    signature: String,
}

/// What an export wrote.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportSummary {
    pub bundle: String,
    pub company_id: String,
    pub key_id: String,
    pub engine: String,
    pub files: usize,
    /// Bytes of the home's files (the bundle adds headers and the manifest).
    pub bytes: u64,
    /// Files the config names outside the home, which the bundle does not carry.
    pub not_included: Vec<String>,
}

/// What an import (or a verification) found and did.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportSummary {
    /// The new home (empty for [`verify`]).
    pub home: String,
    pub company_id: String,
    pub key_id: String,
    pub engine: String,
    pub exported_at: String,
    pub files: usize,
    pub bytes: u64,
    /// How the imported node key is stored (for [`verify`], as in the bundle).
    pub key: KeyProtection,
    /// Whether the bundle carries a TLS identity (`tls/cert.pem` and `tls/key.pem`).
    pub tls_identity: bool,
}

// === export ===

/// Exports the home to a new bundle file `out`, its node key re-encrypted under
/// `passphrase`; `now` is the export time recorded in the manifest. Fails when the home's
/// store is in use (a node serves it).
pub fn export(
    home: &Home,
    out: &Path,
    passphrase: &Passphrase,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<ExportSummary, BundleError> {
    if passphrase.is_empty() {
        return Err(BundleError::Usage(
            "a bundle's node key is encrypted under a passphrase, and the passphrase is empty"
                .into(),
        ));
    }
    if out.exists() {
        return Err(BundleError::OutputExists(out.display().to_string()));
    }
    let config = home.load_config()?;
    let shown_home = home.dir.display().to_string();
    // The store's lock, held until the bundle is complete: a node serving this home makes
    // this fail, and no node starts on it meanwhile.
    let store = Store::open_with_cache(&home.store_dir(), config.engine, config.store_cache_mib)
        .map_err(|source| match source {
            StoreError::Locked(_) => BundleError::InUse {
                home: shown_home.clone(),
                source,
            },
            source => BundleError::Store {
                home: shown_home.clone(),
                source,
            },
        })?;
    let out_dir = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if let (Ok(a), Ok(b)) = (out_dir.canonicalize(), home.dir.canonicalize())
        && a.starts_with(&b)
    {
        return Err(BundleError::Usage(format!(
            "{} is inside the home {shown_home}; write the bundle elsewhere",
            out.display()
        )));
    }
    let (key, _history) = home.load_keys(&config.company_id)?;
    let key_pem = zeroize::Zeroizing::new(key.to_encrypted_pem(passphrase.as_bytes()).map_err(
        |source| HomeError::Key {
            path: home.key_path().display().to_string(),
            source,
        },
    )?);

    let mut files = Vec::new();
    walk(&home.dir, &home.dir, 0, &mut files)?;
    files.sort();
    let mut entries = Vec::with_capacity(files.len() + 1);
    let mut total = 0u64;
    for rel in &files {
        let path = home.dir.join(rel);
        let (size, sha256) = hash_file(&path)?;
        let mode = fs::metadata(&path)
            .map_err(io_err(&path))?
            .permissions()
            .mode()
            & 0o777;
        total += size;
        entries.push(FileEntry {
            path: rel.clone(),
            size,
            sha256,
            mode,
        });
    }
    entries.push(FileEntry {
        path: KEY_FILE.into(),
        size: key_pem.len() as u64,
        sha256: hex::encode(crypto::sha256(key_pem.as_bytes())),
        mode: 0o600,
    });
    total += key_pem.len() as u64;
    entries.sort_by(|a, b| a.path.cmp(&b.path));

    let manifest = Manifest {
        format: FORMAT.into(),
        version: FORMAT_VERSION,
        company_id: config.company_id.clone(),
        key_id: key.key_id().to_string(),
        exported_at: now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        tanso_version: env!("CARGO_PKG_VERSION").into(),
        engine: config.engine.name().into(),
        files: entries,
    };
    let manifest_bytes = serde_json::to_vec_pretty(&manifest)
        .map_err(|e| BundleError::Usage(format!("manifest: {e}")))?;
    let signature = ManifestSignature {
        key_id: key.key_id().to_string(),
        public_key: B64.encode(key.public_key_bytes()),
        signature: B64.encode(key.sign(crypto::DOMAIN_HOME_BUNDLE, &manifest_bytes)),
    };
    let signature_bytes = serde_json::to_vec_pretty(&signature)
        .map_err(|e| BundleError::Usage(format!("manifest signature: {e}")))?;

    let tmp = tempfile::Builder::new()
        .prefix(".tanso-bundle-")
        .tempfile_in(&out_dir)
        .map_err(io_err(&out_dir))?;
    let shown_tmp = tmp.path().to_path_buf();
    let mtime = now.timestamp().max(0) as u64;
    let mut builder = tar::Builder::new(BufWriter::with_capacity(1 << 20, tmp.as_file()));
    let mut append = |name: &str, size: u64, mode: u32, data: &mut dyn Read| {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_size(size);
        header.set_mode(mode);
        header.set_mtime(mtime);
        builder
            .append_data(&mut header, name, data)
            .map_err(io_err(&shown_tmp))
    };
    append(
        MANIFEST,
        manifest_bytes.len() as u64,
        0o644,
        &mut manifest_bytes.as_slice(),
    )?;
    append(
        SIGNATURE,
        signature_bytes.len() as u64,
        0o644,
        &mut signature_bytes.as_slice(),
    )?;
    for entry in &manifest.files {
        let name = format!("{PREFIX}{}", entry.path);
        if entry.path == KEY_FILE {
            append(&name, entry.size, entry.mode, &mut key_pem.as_bytes())?;
            continue;
        }
        let path = home.dir.join(&entry.path);
        let file = fs::File::open(&path).map_err(io_err(&path))?;
        // The digest is taken again as the bytes are copied: a file that changed since it
        // was hashed fails the export rather than produce a bundle that fails to import.
        let mut reader = HashingReader::new(file.take(entry.size));
        append(&name, entry.size, entry.mode, &mut reader)?;
        let (read, digest) = reader.finish();
        if read != entry.size || digest != entry.sha256 {
            return Err(BundleError::Io {
                path: path.display().to_string(),
                source: std::io::Error::other("the file changed while it was exported"),
            });
        }
    }
    let writer = builder.into_inner().map_err(io_err(&shown_tmp))?;
    writer
        .into_inner()
        .map_err(|e| BundleError::Io {
            path: shown_tmp.display().to_string(),
            source: e.into_error(),
        })?
        .sync_all()
        .map_err(io_err(&shown_tmp))?;
    tmp.persist_noclobber(out).map_err(|e| {
        if e.error.kind() == std::io::ErrorKind::AlreadyExists {
            BundleError::OutputExists(out.display().to_string())
        } else {
            BundleError::Io {
                path: out.display().to_string(),
                source: e.error,
            }
        }
    })?;
    sync_dir(&out_dir);
    drop(store);

    let mut not_included = Vec::new();
    let named = [
        config.client_ca.clone(),
        config.client_cert.clone().map(|(c, _)| c),
        config.client_cert.clone().map(|(_, k)| k),
        config.pact_tls.clone().map(|(c, _)| c),
        config.pact_tls.clone().map(|(_, k)| k),
        config.audit_archive_dir.clone(),
    ];
    for path in named.into_iter().flatten() {
        let path = if path.is_absolute() {
            path
        } else {
            home.dir.join(path)
        };
        if !path.starts_with(&home.dir) {
            not_included.push(path.display().to_string());
        }
    }
    Ok(ExportSummary {
        bundle: out.display().to_string(),
        company_id: manifest.company_id,
        key_id: manifest.key_id,
        engine: manifest.engine,
        files: manifest.files.len(),
        bytes: total,
        not_included,
    })
}

/// Whether a file of the home is left out of a bundle: runtime files (the admin socket,
/// bound-address files, locks, temporary files), the node key (which the bundle carries
/// re-encrypted), a rotation's successor key in flight, and migration scratch.
fn skipped(rel: &str) -> bool {
    let name = rel.rsplit('/').next().unwrap_or(rel);
    rel == KEY_FILE
        || rel == "node.key.next"
        || rel == "admin.sock"
        || rel == "store/migrate.tmp"
        || [".addr", ".lock", ".tmp", ".sock"]
            .iter()
            .any(|ext| name.ends_with(ext))
        || name == "bound-address"
}

/// Collects the home's files (relative, `/`-separated; symbolic links followed to the
/// regular files and directories they name).
fn walk(root: &Path, dir: &Path, depth: usize, out: &mut Vec<String>) -> Result<(), BundleError> {
    if depth > MAX_DEPTH {
        return Err(BundleError::Usage(format!(
            "{} is nested deeper than {MAX_DEPTH} directories",
            dir.display()
        )));
    }
    for entry in fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        let path = entry.path();
        let rel = path
            .strip_prefix(root)
            .ok()
            .and_then(Path::to_str)
            .ok_or_else(|| {
                BundleError::Usage(format!(
                    "{}: file names in a home must be UTF-8",
                    path.display()
                ))
            })?
            .to_string();
        if skipped(&rel) {
            continue;
        }
        let meta = fs::metadata(&path).map_err(io_err(&path))?;
        if meta.is_dir() {
            walk(root, &path, depth + 1, out)?;
        } else if meta.is_file() {
            out.push(rel);
        }
        // Sockets, pipes and devices are runtime artefacts: not part of a home.
    }
    Ok(())
}

// === verify and import ===

/// What the verifying pass found.
struct Checked {
    manifest: Manifest,
    /// The node key, decrypted (when a passphrase was given).
    key: Option<NodeKey>,
    tls_identity: bool,
    bytes: u64,
}

/// Verifies a bundle without unpacking it: the signature, the key's chain, and every file's
/// size and digest; with `passphrase`, also that it decrypts the node key the signature
/// names.
pub fn verify(
    bundle: &Path,
    passphrase: Option<&Passphrase>,
) -> Result<ImportSummary, BundleError> {
    let checked = check(bundle, passphrase, &BundleLimits::default())?;
    Ok(summary(&checked, "", KeyProtection::Passphrase))
}

/// Imports a bundle into a new home `dest` (which must not exist), verifying everything
/// first. The node key is sealed under `seal` when given, else stored passphrase-encrypted
/// as in the bundle.
pub fn import(
    bundle: &Path,
    dest: &Home,
    passphrase: &Passphrase,
    seal: Option<Arc<dyn KeySealer>>,
) -> Result<ImportSummary, BundleError> {
    import_with(bundle, dest, passphrase, seal, &BundleLimits::default())
}

/// [`import`] within `limits`.
pub fn import_with(
    bundle: &Path,
    dest: &Home,
    passphrase: &Passphrase,
    seal: Option<Arc<dyn KeySealer>>,
    limits: &BundleLimits,
) -> Result<ImportSummary, BundleError> {
    if fs::symlink_metadata(&dest.dir).is_ok() {
        return Err(BundleError::DestinationExists(
            dest.dir.display().to_string(),
        ));
    }
    let parent = match dest.dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = dest
        .dir
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| {
            BundleError::Usage(format!("{}: not a home directory name", dest.dir.display()))
        })?;
    let checked = check(bundle, Some(passphrase), limits)?;
    let key = checked.key.as_ref().expect("checked with a passphrase");

    // Everything verified: unpack beside the destination, then rename into place.
    let tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}.import-"))
        .tempdir_in(&parent)
        .map_err(io_err(&parent))?;
    let key_pem = match &seal {
        Some(sealer) => Home::new(tmp.path())
            .with_sealer(sealer.clone())
            .key_pem_for(key, KeyProtection::Sealed, &checked.manifest.company_id)?,
        None => zeroize::Zeroizing::new(String::new()),
    };
    unpack(
        bundle,
        tmp.path(),
        &checked.manifest,
        seal.is_some().then_some(&*key_pem),
    )?;
    fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o700))
        .map_err(io_err(tmp.path()))?;
    sync_dir(tmp.path());
    if fs::symlink_metadata(&dest.dir).is_ok() {
        return Err(BundleError::DestinationExists(
            dest.dir.display().to_string(),
        ));
    }
    let unpacked = tmp.keep();
    if let Err(source) = fs::rename(&unpacked, &dest.dir) {
        let _ = fs::remove_dir_all(&unpacked);
        return Err(BundleError::Io {
            path: dest.dir.display().to_string(),
            source,
        });
    }
    sync_dir(&parent);
    let protection = if seal.is_some() {
        KeyProtection::Sealed
    } else {
        KeyProtection::Passphrase
    };
    Ok(summary(
        &checked,
        &dest.dir.display().to_string(),
        protection,
    ))
}

fn summary(checked: &Checked, home: &str, key: KeyProtection) -> ImportSummary {
    let m = &checked.manifest;
    ImportSummary {
        home: home.to_string(),
        company_id: m.company_id.clone(),
        key_id: m.key_id.clone(),
        engine: m.engine.clone(),
        exported_at: m.exported_at.clone(),
        files: m.files.len(),
        bytes: checked.bytes,
        key,
        tls_identity: checked.tls_identity,
    }
}

fn invalid(bundle: &str, entry: &str, reason: impl Into<String>) -> BundleError {
    BundleError::Invalid {
        bundle: bundle.to_string(),
        entry: entry.to_string(),
        reason: reason.into(),
    }
}

/// Calls `each(name, entry)` for every entry of the bundle, in order.
fn for_each_entry(
    bundle: &Path,
    max_files: usize,
    mut each: impl FnMut(&str, &mut dyn ReadEntry) -> Result<(), BundleError>,
) -> Result<(), BundleError> {
    let file = fs::File::open(bundle).map_err(io_err(bundle))?;
    let mut archive = tar::Archive::new(BufReader::with_capacity(1 << 20, file));
    let shown = bundle.display().to_string();
    // Every file may come with a long-name entry; plus the manifest and its signature.
    let max_raw = max_files.saturating_mul(2).saturating_add(4);
    let io =
        |e: std::io::Error| invalid(&shown, "(archive)", format!("not a readable tar file: {e}"));
    let mut read = 0usize;
    let mut long_name: Option<String> = None;
    for entry in archive.entries().map_err(io)?.raw(true) {
        let mut entry = entry.map_err(io)?;
        read += 1;
        if read > max_raw {
            return Err(invalid(
                &shown,
                "(archive)",
                format!("more than {max_raw} entries"),
            ));
        }
        let header_name = String::from_utf8_lossy(&entry.header().path_bytes()).into_owned();
        let kind = entry.header().entry_type();
        if kind.is_gnu_longname() {
            let size = entry.header().size().map_err(io)?;
            if size > MAX_PATH_BYTES || long_name.is_some() {
                return Err(invalid(&shown, &header_name, "bad long-name entry"));
            }
            let mut bytes = Vec::with_capacity(size as usize);
            (&mut entry)
                .take(MAX_PATH_BYTES)
                .read_to_end(&mut bytes)
                .map_err(io)?;
            while bytes.last() == Some(&0) {
                bytes.pop();
            }
            let name = String::from_utf8(bytes)
                .map_err(|_| invalid(&shown, &header_name, "entry name is not UTF-8"))?;
            long_name = Some(name);
            continue;
        }
        let name = long_name.take().unwrap_or(header_name);
        if !kind.is_file() {
            return Err(invalid(
                &shown,
                &name,
                format!(
                    "is a {}, not a regular file",
                    match kind {
                        tar::EntryType::Symlink => "symbolic link".to_string(),
                        tar::EntryType::Link => "hard link".to_string(),
                        tar::EntryType::Char | tar::EntryType::Block => "device".to_string(),
                        tar::EntryType::Directory => "directory".to_string(),
                        tar::EntryType::Fifo => "pipe".to_string(),
                        other => format!("{other:?} entry"),
                    }
                ),
            ));
        }
        let size = entry.header().size().map_err(io)?;
        let mut sized = SizedEntry {
            inner: &mut entry,
            size,
        };
        each(&name, &mut sized)?;
    }
    if long_name.is_some() {
        return Err(invalid(
            &shown,
            "(archive)",
            "ends with a dangling long name",
        ));
    }
    Ok(())
}

/// An entry's bytes and its declared size.
trait ReadEntry: Read {
    fn size(&self) -> u64;
}

struct SizedEntry<'a, R: Read> {
    inner: &'a mut R,
    size: u64,
}

impl<R: Read> Read for SizedEntry<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.inner.read(buf)
    }
}

impl<R: Read> ReadEntry for SizedEntry<'_, R> {
    fn size(&self) -> u64 {
        self.size
    }
}

/// Reads a whole small entry, refusing one larger than `cap`.
fn read_small(
    shown: &str,
    name: &str,
    entry: &mut dyn ReadEntry,
    cap: u64,
) -> Result<Vec<u8>, BundleError> {
    if entry.size() > cap {
        return Err(invalid(
            shown,
            name,
            format!("{} bytes, more than the {cap} allowed", entry.size()),
        ));
    }
    let mut bytes = Vec::with_capacity(entry.size() as usize);
    entry
        .take(cap)
        .read_to_end(&mut bytes)
        .map_err(|e| invalid(shown, name, format!("cannot be read: {e}")))?;
    Ok(bytes)
}

/// A path inside a home as a bundle names it: relative, `/`-separated, no `.`, `..`, empty or
/// absolute parts.
fn check_rel_path(path: &str) -> Result<(), String> {
    if path.is_empty() || path.len() > MAX_PATH_BYTES as usize {
        return Err("path is empty or too long".into());
    }
    if path.contains('\\') || path.contains('\0') {
        return Err("path holds a backslash or NUL".into());
    }
    for part in Path::new(path).components() {
        match part {
            Component::Normal(_) => {}
            _ => return Err("path is absolute or holds `.` or `..`".into()),
        }
    }
    if path
        .split('/')
        .any(|p| p.is_empty() || p == "." || p == "..")
    {
        return Err("path is absolute or holds `.` or `..`".into());
    }
    Ok(())
}

/// The verifying pass: reads every entry (hashing, writing nothing) and checks the bundle.
fn check(
    bundle: &Path,
    passphrase: Option<&Passphrase>,
    limits: &BundleLimits,
) -> Result<Checked, BundleError> {
    let shown = bundle.display().to_string();
    let mut manifest: Option<(Manifest, Vec<u8>)> = None;
    let mut signature: Option<ManifestSignature> = None;
    let mut expected: HashMap<String, FileEntry> = HashMap::new();
    let mut seen: HashMap<String, ()> = HashMap::new();
    let mut kept: HashMap<&'static str, Vec<u8>> = HashMap::new();
    let mut index = 0usize;
    for_each_entry(bundle, limits.max_files, |name, entry| {
        index += 1;
        match index {
            1 => {
                if name != MANIFEST {
                    return Err(invalid(
                        &shown,
                        name,
                        format!("the first entry must be {MANIFEST}"),
                    ));
                }
                let bytes = read_small(&shown, name, entry, MAX_MANIFEST_BYTES)?;
                let parsed: Manifest = serde_json::from_slice(&bytes)
                    .map_err(|e| invalid(&shown, name, format!("not a bundle manifest: {e}")))?;
                expected = check_manifest(&shown, &parsed, limits)?;
                manifest = Some((parsed, bytes));
                return Ok(());
            }
            2 => {
                if name != SIGNATURE {
                    return Err(invalid(
                        &shown,
                        name,
                        format!("the second entry must be {SIGNATURE}"),
                    ));
                }
                let bytes = read_small(&shown, name, entry, MAX_SIGNATURE_BYTES)?;
                let parsed: ManifestSignature = serde_json::from_slice(&bytes)
                    .map_err(|e| invalid(&shown, name, format!("not a manifest signature: {e}")))?;
                let (m, m_bytes) = manifest.as_ref().expect("the manifest came first");
                check_signature(&shown, m, m_bytes, &parsed)?;
                signature = Some(parsed);
                return Ok(());
            }
            _ => {}
        }
        let rel = name
            .strip_prefix(PREFIX)
            .ok_or_else(|| invalid(&shown, name, format!("is outside {PREFIX}")))?;
        check_rel_path(rel).map_err(|reason| invalid(&shown, name, reason))?;
        let file = expected
            .get(rel)
            .ok_or_else(|| invalid(&shown, name, "is not in the manifest"))?;
        if seen.insert(rel.to_string(), ()).is_some() {
            return Err(invalid(&shown, name, "appears twice"));
        }
        if entry.size() != file.size {
            return Err(invalid(
                &shown,
                name,
                format!("is {} bytes, the manifest says {}", entry.size(), file.size),
            ));
        }
        let keep = match rel {
            KEY_FILE => Some((KEY_FILE, MAX_KEY_BYTES)),
            CONFIG_FILE => Some((CONFIG_FILE, MAX_CONFIG_BYTES)),
            HISTORY_FILE => Some((HISTORY_FILE, MAX_HISTORY_BYTES)),
            _ => None,
        };
        let digest = match keep {
            Some((slot, cap)) => {
                let bytes = read_small(&shown, name, entry, cap)?;
                let digest = hex::encode(crypto::sha256(&bytes));
                if bytes.len() as u64 != file.size {
                    return Err(invalid(&shown, name, "is shorter than its header says"));
                }
                kept.insert(slot, bytes);
                digest
            }
            None => {
                let mut hasher = Sha256Writer::new();
                let copied = std::io::copy(&mut entry.take(file.size), &mut hasher)
                    .map_err(|e| invalid(&shown, name, format!("cannot be read: {e}")))?;
                if copied != file.size {
                    return Err(invalid(&shown, name, "is shorter than its header says"));
                }
                hex::encode(hasher.finish())
            }
        };
        if digest != file.sha256 {
            return Err(invalid(
                &shown,
                name,
                "its SHA-256 differs from the manifest's (altered or damaged)",
            ));
        }
        Ok(())
    })?;
    let Some((manifest, _)) = manifest else {
        return Err(invalid(&shown, MANIFEST, "missing"));
    };
    let Some(signature) = signature else {
        return Err(invalid(&shown, SIGNATURE, "missing"));
    };
    let mut missing: Vec<&String> = expected.keys().filter(|p| !seen.contains_key(*p)).collect();
    missing.sort();
    if let Some(first) = missing.first() {
        return Err(invalid(
            &shown,
            &format!("{PREFIX}{first}"),
            format!(
                "is in the manifest but not in the bundle ({} missing)",
                missing.len()
            ),
        ));
    }

    // The config names the manifest's company and engine.
    let config_name = format!("{PREFIX}{CONFIG_FILE}");
    let config_text = String::from_utf8(kept.remove(CONFIG_FILE).unwrap_or_default())
        .map_err(|_| invalid(&shown, &config_name, "is not UTF-8"))?;
    let raw = crate::config::RawConfig::parse(&config_text, &config_name)
        .map_err(|e| invalid(&shown, &config_name, e.to_string()))?;
    if !raw.company_id.eq_ignore_ascii_case(&manifest.company_id) {
        return Err(invalid(
            &shown,
            &config_name,
            format!(
                "names company {}, the manifest {}",
                raw.company_id, manifest.company_id
            ),
        ));
    }
    let engine: EngineKind = raw
        .store
        .engine
        .parse()
        .map_err(|e: StoreError| invalid(&shown, &config_name, e.to_string()))?;
    if engine.name() != manifest.engine {
        return Err(invalid(
            &shown,
            &config_name,
            format!(
                "names engine {}, the manifest {}",
                engine.name(),
                manifest.engine
            ),
        ));
    }

    // The signing key's history chains to it (the history is public; the chain proves each
    // retired key handed over to the next).
    let history_name = format!("{PREFIX}{HISTORY_FILE}");
    let history: Vec<PreviousKey> = match kept.remove(HISTORY_FILE) {
        None => Vec::new(),
        Some(bytes) => serde_json::from_slice(&bytes)
            .map_err(|e| invalid(&shown, &history_name, format!("not a key history: {e}")))?,
    };
    crate::keys::check_chain(
        &manifest.company_id,
        &history,
        &signature.public_key,
        &signature.key_id,
    )
    .map_err(|e| {
        invalid(
            &shown,
            &history_name,
            format!("does not chain to the signing key: {e}"),
        )
    })?;

    // With the passphrase: node.key is the key that signed.
    let key_name = format!("{PREFIX}{KEY_FILE}");
    let key = match passphrase {
        None => None,
        Some(pass) => {
            let text = String::from_utf8(kept.remove(KEY_FILE).unwrap_or_default())
                .map_err(|_| invalid(&shown, &key_name, "is not UTF-8"))?;
            if !NodeKey::pem_is_encrypted(&text) {
                return Err(invalid(
                    &shown,
                    &key_name,
                    "is not a passphrase-encrypted key",
                ));
            }
            let key = NodeKey::from_encrypted_pem(&text, pass.as_bytes()).map_err(|e| match e {
                CryptoError::WrongPassphrase => BundleError::WrongPassphrase {
                    bundle: shown.clone(),
                },
                other => invalid(&shown, &key_name, other.to_string()),
            })?;
            if key.key_id() != signature.key_id {
                return Err(invalid(
                    &shown,
                    &key_name,
                    format!(
                        "holds key {}, but the manifest is signed by {}",
                        key.key_id(),
                        signature.key_id
                    ),
                ));
            }
            Some(key)
        }
    };
    let tls_identity =
        expected.contains_key("tls/cert.pem") && expected.contains_key("tls/key.pem");
    let bytes = manifest.files.iter().map(|f| f.size).sum();
    Ok(Checked {
        manifest,
        key,
        tls_identity,
        bytes,
    })
}

/// Checks the manifest's own fields and bounds; returns its files by path.
fn check_manifest(
    shown: &str,
    manifest: &Manifest,
    limits: &BundleLimits,
) -> Result<HashMap<String, FileEntry>, BundleError> {
    let bad = |reason: String| invalid(shown, MANIFEST, reason);
    if manifest.format != FORMAT {
        return Err(bad(format!(
            "format is {:?}, not {FORMAT:?}",
            manifest.format
        )));
    }
    if manifest.version != FORMAT_VERSION {
        return Err(bad(format!(
            "format version {} (this tanso reads version {FORMAT_VERSION})",
            manifest.version
        )));
    }
    if manifest.files.len() > limits.max_files {
        return Err(bad(format!(
            "{} files, more than the {} allowed",
            manifest.files.len(),
            limits.max_files
        )));
    }
    let mut files = HashMap::with_capacity(manifest.files.len());
    let mut total = 0u64;
    for file in &manifest.files {
        let name = format!("{PREFIX}{}", file.path);
        check_rel_path(&file.path).map_err(|r| invalid(shown, &name, r))?;
        if file.size > limits.max_file_bytes {
            return Err(invalid(
                shown,
                &name,
                format!(
                    "{} bytes, more than the {} allowed for one file",
                    file.size, limits.max_file_bytes
                ),
            ));
        }
        total = total.saturating_add(file.size);
        if file.mode > 0o777 || file.sha256.len() != 64 {
            return Err(invalid(shown, &name, "mode or sha256 is malformed"));
        }
        if files.insert(file.path.clone(), file.clone()).is_some() {
            return Err(invalid(shown, &name, "is listed twice"));
        }
    }
    if total > limits.max_total_bytes {
        return Err(bad(format!(
            "{total} bytes of files, more than the {} allowed",
            limits.max_total_bytes
        )));
    }
    for required in [CONFIG_FILE, KEY_FILE] {
        if !files.contains_key(required) {
            return Err(bad(format!("lists no {required}")));
        }
    }
    Ok(files)
}

/// Checks `manifest.sig` against the manifest bytes.
fn check_signature(
    shown: &str,
    manifest: &Manifest,
    manifest_bytes: &[u8],
    signature: &ManifestSignature,
) -> Result<(), BundleError> {
    let bad = |reason: String| invalid(shown, SIGNATURE, reason);
    let public = B64
        .decode(&signature.public_key)
        .map_err(|_| bad("publicKey is not base64url".into()))
        .and_then(|raw| crypto::parse_public_key(&raw).map_err(|e| bad(e.to_string())))?;
    if crypto::key_id(&public) != signature.key_id {
        return Err(bad(format!(
            "keyId {} is not the id of its publicKey",
            signature.key_id
        )));
    }
    if signature.key_id != manifest.key_id {
        return Err(bad(format!(
            "signed by {}, but the manifest names key {}",
            signature.key_id, manifest.key_id
        )));
    }
    let sig = B64
        .decode(&signature.signature)
        .map_err(|_| bad("signature is not base64url".into()))?;
    crypto::verify(&public, crypto::DOMAIN_HOME_BUNDLE, manifest_bytes, &sig)
        .map_err(|_| bad("the signature does not verify over manifest.json".into()))
}

/// The writing pass: every file into `dir` (checked again as it is written), the node key
/// as `key_text` when given (sealed), else as in the bundle.
fn unpack(
    bundle: &Path,
    dir: &Path,
    manifest: &Manifest,
    key_text: Option<&str>,
) -> Result<(), BundleError> {
    let shown = bundle.display().to_string();
    let files: BTreeMap<&str, &FileEntry> = manifest
        .files
        .iter()
        .map(|f| (f.path.as_str(), f))
        .collect();
    let mut index = 0usize;
    let mut dirs = vec![dir.to_path_buf()];
    for_each_entry(bundle, manifest.files.len(), |name, entry| {
        index += 1;
        if index <= 2 {
            return Ok(());
        }
        let rel = name.strip_prefix(PREFIX).unwrap_or(name);
        check_rel_path(rel).map_err(|reason| invalid(&shown, name, reason))?;
        let file = files
            .get(rel)
            .ok_or_else(|| invalid(&shown, name, "is not in the manifest (the bundle changed)"))?;
        let target = dir.join(rel);
        if let Some(parent) = target.parent()
            && !parent.exists()
        {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(parent)
                .map_err(io_err(parent))?;
            dirs.push(parent.to_path_buf());
        }
        // Group and others never get write access; private files stay private.
        // Group and others never get write access; key files stay private.
        let private = rel.ends_with(".key") || rel == "tls/key.pem";
        let mode = if private { 0o600 } else { file.mode & 0o755 };
        let mut out = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&target)
            .map_err(io_err(&target))?;
        let mut reader = HashingReader::new(entry.take(file.size));
        match key_text {
            // The sealed key replaces the bundle's encrypted one (checked all the same).
            Some(text) if rel == KEY_FILE => {
                std::io::copy(&mut reader, &mut std::io::sink()).map_err(io_err(&target))?;
                out.write_all(text.as_bytes()).map_err(io_err(&target))?;
            }
            _ => {
                std::io::copy(&mut reader, &mut out).map_err(io_err(&target))?;
            }
        }
        let (read, digest) = reader.finish();
        if read != file.size || digest != file.sha256 {
            return Err(invalid(&shown, name, "changed while it was imported"));
        }
        out.set_permissions(fs::Permissions::from_mode(mode))
            .map_err(io_err(&target))?;
        out.sync_all().map_err(io_err(&target))?;
        Ok(())
    })?;
    for d in dirs.iter().rev() {
        sync_dir(d);
    }
    Ok(())
}

// === helpers ===

/// A reader that hashes and counts what passes through it.
struct HashingReader<R> {
    inner: R,
    hasher: Sha256Writer,
    read: u64,
}

impl<R: Read> HashingReader<R> {
    fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hasher: Sha256Writer::new(),
            read: 0,
        }
    }
    fn finish(self) -> (u64, String) {
        (self.read, hex::encode(self.hasher.finish()))
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.read += n as u64;
        Ok(n)
    }
}

fn hash_file(path: &Path) -> Result<(u64, String), BundleError> {
    let file = fs::File::open(path).map_err(io_err(path))?;
    let mut hasher = Sha256Writer::new();
    let size = std::io::copy(&mut BufReader::with_capacity(1 << 20, file), &mut hasher)
        .map_err(io_err(path))?;
    Ok((size, hex::encode(hasher.finish())))
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> BundleError + '_ {
    move |source| BundleError::Io {
        path: path.display().to_string(),
        source,
    }
}

fn sync_dir(dir: &Path) {
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(test)]
mod tests;
