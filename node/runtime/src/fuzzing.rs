//! Entry points for the fuzz targets in `fuzz/` (not a stable API): the parsers and checks
//! that face untrusted bytes, without IO around them.

use prost::Message as _;
use proto::pb;

use std::sync::atomic::{AtomicU64, Ordering};

use tanso_core::config::RawConfig;
use tanso_core::home::Home;
use tanso_core::node::Node;
use tanso_grpc::METHOD_GET_FOOTPRINT;
use tanso_grpc::auth::Seal;

/// Parses an ODRL policy document; `Ok` when it is a valid tanso policy.
pub fn policy(text: &str) -> Result<(), String> {
    tanso_core::policy::parse::parse_policy("fuzz.json", text)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Parses and checks the body of a PACT `POST /3/events` (CloudEvents structured mode).
pub fn cloud_event(body: &[u8]) -> Result<(), String> {
    tanso_pact_api::parse_event_body(body)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Decodes `bytes` as a signed envelope and authenticates it for `method` on `node`
/// (header, audience, clock, caller key, signature, body hash, nonce), as the gRPC edge does
/// before any handler runs (without the audit entry of a refusal).
pub fn envelope_bytes(node: &Node, bytes: &[u8], method: &'static str) -> Result<(), String> {
    let decoded = pb::Envelope::decode(bytes).map_err(|e| format!("envelope: {e}"))?;
    envelope(node, &decoded, method)
}

/// Authenticates a decoded envelope for `method` on `node`.
pub fn envelope(node: &Node, envelope: &pb::Envelope, method: &'static str) -> Result<(), String> {
    tanso_grpc::auth::check(node, envelope, method, None)
        .map(|_| ())
        .map_err(|(_, e)| e.to_string())
}

/// Parses a PACT document (one footprint, an array, a `{"data": …}` envelope or JSON lines),
/// validates every footprint in it, renders every finding and checks the owner-signature
/// extension. Only a panic is a failure: every outcome here is a valid answer to bad input.
pub fn pact_json(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(docs) = tanso_core::pact::parse_document(text) {
        for doc in docs {
            for finding in
                tanso_core::pact::validate(&doc, &tanso_core::pact::ValidationContext::default())
            {
                let _ = finding.to_string();
            }
            let _ = tanso_core::signed::verify_document(&doc);
        }
    }
}

const OWNER: &str = "urn:tanso:company:fuzz-owner";
const CALLER: &str = "urn:tanso:company:fuzz-caller";

/// Two nodes in a temporary directory: an owner and a caller it knows as a partner in group
/// `customer`, for the envelope target.
pub struct EnvelopeFixture {
    owner: Node,
    caller: Node,
    counter: AtomicU64,
    _runtime: tokio::runtime::Runtime,
    _dir: tempfile::TempDir,
}

impl EnvelopeFixture {
    /// Creates both homes and opens both nodes (a few milliseconds; build it once per process).
    pub fn new() -> Result<EnvelopeFixture, String> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .map_err(|e| format!("runtime: {e}"))?;
        let dir = tempfile::tempdir().map_err(|e| format!("tempdir: {e}"))?;
        let open = |slug: &str, company: &str| -> Result<Node, String> {
            let text = format!("company_id = \"{company}\"\nname = \"{slug}\"\n");
            let raw = RawConfig::parse(&text, "fuzz.toml").map_err(|e| e.to_string())?;
            let home = Home::new(dir.path().join(slug));
            let mut seed = [0u8; 32];
            getrandom::fill(&mut seed).map_err(|e| format!("os randomness: {e}"))?;
            home.init(&raw, &seed).map_err(|e| e.to_string())?;
            crate::open(&home).map_err(|e| e.to_string())
        };
        let (owner, caller) = runtime.block_on(async {
            let owner = open("owner", OWNER)?;
            let caller = open("caller", CALLER)?;
            let card = serde_json::to_string(&caller.card().map_err(|e| e.to_string())?)
                .map_err(|e| e.to_string())?;
            owner
                .add_partner(&card, vec!["customer".into()])
                .map_err(|e| e.to_string())?;
            Ok::<_, String>((owner, caller))
        })?;
        Ok(EnvelopeFixture {
            owner,
            caller,
            counter: AtomicU64::new(1),
            _runtime: runtime,
            _dir: dir,
        })
    }

    /// One fuzz case. The first byte picks the mode. Even: the rest is decoded as an envelope
    /// and authenticated (any answer is fine, a panic is not). Odd: the caller seals a valid
    /// envelope over the rest (after 4 control bytes), the control bytes then flip bits in at
    /// most one byte of its header, signature or body. `Err` means the oracle failed: an
    /// unchanged envelope was refused, or a changed one was accepted.
    pub fn case(&self, data: &[u8]) -> Result<(), String> {
        let Some((&mode, rest)) = data.split_first() else {
            return Ok(());
        };
        if mode % 2 == 0 {
            let _ = envelope_bytes(&self.owner, rest, METHOD_GET_FOOTPRINT);
            return Ok(());
        }
        let mut nonce = [0u8; 16];
        nonce[..8].copy_from_slice(&self.counter.fetch_add(1, Ordering::Relaxed).to_le_bytes());
        nonce[8..12].copy_from_slice(&std::process::id().to_le_bytes());
        let (ctl, body) = rest.split_at(rest.len().min(4));
        let key = self.caller.key();
        let seal = Seal {
            key: &key,
            caller: CALLER,
            audience: OWNER,
            method: METHOD_GET_FOOTPRINT,
            purpose: None,
            nonce,
            issued_at_ms: chrono::Utc::now().timestamp_millis(),
        };
        let mut sealed = seal.envelope(body.to_vec());
        let mut changed = false;
        if let [which, lo, hi, x] = *ctl {
            let target = match which % 4 {
                0 => Some(&mut sealed.header),
                1 => Some(&mut sealed.signature),
                2 => Some(&mut sealed.body),
                _ => None,
            };
            if let Some(bytes) = target
                && !bytes.is_empty()
            {
                let i = usize::from(u16::from_le_bytes([lo, hi])) % bytes.len();
                bytes[i] ^= x | 1;
                changed = true;
            }
        }
        let result = envelope(&self.owner, &sealed, METHOD_GET_FOOTPRINT);
        match (changed, result) {
            (false, Err(e)) => Err(format!("an untouched envelope was refused: {e}")),
            (true, Ok(())) => Err("a changed envelope was accepted".into()),
            _ => Ok(()),
        }
    }
}

/// A short, deterministic, uninstrumented fuzz pass over every target, run by `cargo test`
/// (the libFuzzer build in `fuzz/` is too slow to make for CI): each seed in `fuzz/seeds/`
/// and a few thousand mutations of them (bit flips, byte replacements with boundary values,
/// truncations, duplicated and removed ranges, splices of two seeds) go through the same
/// entry points as the libFuzzer targets. A panic or a broken envelope oracle fails the test.
#[cfg(test)]
mod smoke {
    use std::path::{Path, PathBuf};

    /// xorshift64*: reproducible mutations without a dependency.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }
    }

    fn seeds(target: &str) -> Vec<Vec<u8>> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fuzz/seeds")
            .join(target);
        let mut paths: Vec<PathBuf> = walk(&dir);
        paths.sort();
        let out: Vec<Vec<u8>> = paths
            .iter()
            .map(|p| std::fs::read(p).expect("seed"))
            .collect();
        assert!(!out.is_empty(), "no seeds in {}", dir.display());
        out
    }

    fn walk(dir: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                out.extend(walk(&path));
            } else {
                out.push(path);
            }
        }
        out
    }

    fn mutate(rng: &mut Rng, seeds: &[Vec<u8>]) -> Vec<u8> {
        let mut data = seeds[rng.below(seeds.len())].clone();
        for _ in 0..1 + rng.below(4) {
            let len = data.len();
            match rng.below(6) {
                0 if len > 0 => {
                    let i = rng.below(len);
                    data[i] ^= 1 << rng.below(8);
                }
                1 if len > 0 => {
                    let i = rng.below(len);
                    let special = [
                        0u8, 0xff, b'"', b'{', b'}', b'[', b']', b',', b':', b'-', b'0', b'\\',
                        0x80,
                    ];
                    data[i] = special[rng.below(special.len())];
                }
                2 if len > 0 => data.truncate(rng.below(len)),
                3 if len > 0 => {
                    let a = rng.below(len);
                    let b = (a + rng.below(64)).min(len);
                    let chunk = data[a..b].to_vec();
                    let at = rng.below(len);
                    data.splice(at..at, chunk);
                }
                4 if len > 0 => {
                    let a = rng.below(len);
                    let b = (a + rng.below(64)).min(len);
                    data.drain(a..b);
                }
                _ => {
                    let other = &seeds[rng.below(seeds.len())];
                    let cut = rng.below(data.len() + 1);
                    let from = rng.below(other.len() + 1);
                    data.truncate(cut);
                    data.extend_from_slice(&other[from..]);
                }
            }
        }
        data
    }

    fn run(target: &str, cases: usize, mut check: impl FnMut(&[u8])) {
        let seeds = seeds(target);
        for seed in &seeds {
            check(seed);
        }
        let mut rng = Rng(0x7a6e_736f ^ target.len() as u64);
        for _ in 0..cases {
            check(&mutate(&mut rng, &seeds));
        }
    }

    #[test]
    fn policy_parser_survives_mutations() {
        run("policy", 4000, |data| {
            if let Ok(text) = std::str::from_utf8(data) {
                let _ = super::policy(text);
            }
        });
    }

    #[test]
    fn cloud_event_parser_survives_mutations() {
        run("cloud_event", 4000, |data| {
            let _ = super::cloud_event(data);
        });
    }

    #[test]
    fn pact_json_validation_survives_mutations() {
        run("pact_json", 1500, super::pact_json);
    }

    #[test]
    fn envelope_checks_hold_under_mutations() {
        let fixture = super::EnvelopeFixture::new().expect("fixture");
        let mut sealed_cases = 0;
        run("envelope", 3000, |data| {
            if let Err(e) = fixture.case(data) {
                panic!("{e} (case {data:?})");
            }
            if data.first().is_some_and(|m| m % 2 == 1) && data.len() >= 5 {
                sealed_cases += 1;
            }
        });
        // The seeds include sealed cases, so the oracle really ran.
        assert!(sealed_cases > 100, "only {sealed_cases} sealed cases");
    }
}
