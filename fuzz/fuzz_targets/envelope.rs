//! Signed envelopes (node/src/service/auth.rs): decode and verify against a live node.
//!
//! The first byte picks the mode. Even: the rest is decoded as an envelope and checked (it
//! must never panic). Odd: a valid envelope is sealed by a known partner over the fuzzed
//! body, then up to one byte of its header, signature or body is changed as the next bytes
//! say; an unchanged envelope must authenticate and a changed one must not.
#![no_main]

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use libfuzzer_sys::fuzz_target;
use node::Node;
use node::config::RawConfig;
use node::home::Home;
use node::service::METHOD_GET_FOOTPRINT;
use node::service::auth::Seal;

const OWNER: &str = "urn:tanso:company:fuzz-owner";
const CALLER: &str = "urn:tanso:company:fuzz-caller";

struct Fixture {
    owner: Node,
    caller: Node,
    _rt: tokio::runtime::Runtime,
    _dir: tempfile::TempDir,
}

fn home(dir: &std::path::Path, company: &str) -> Home {
    let raw = RawConfig {
        company_id: company.into(),
        name: company.rsplit(':').next().unwrap_or(company).into(),
        listen: None,
        advertise: None,
        store: Default::default(),
        limits: Default::default(),
        tls: Default::default(),
        log: Default::default(),
        dashboard: Default::default(),
        exchange: Default::default(),
        pact: Default::default(),
    };
    let home = Home::new(dir);
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).expect("os randomness");
    home.init(&raw, &seed).expect("init home");
    home
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let dir = tempfile::tempdir().expect("tempdir");
        let (owner, caller) = rt.block_on(async {
            let owner = Node::open(&home(&dir.path().join("owner"), OWNER)).expect("owner");
            let caller = Node::open(&home(&dir.path().join("caller"), CALLER)).expect("caller");
            let card = serde_json::to_string(&caller.card().expect("card")).expect("json");
            owner
                .add_partner(&card, vec!["customer".into()])
                .expect("partner");
            (owner, caller)
        });
        Fixture {
            owner,
            caller,
            _rt: rt,
            _dir: dir,
        }
    })
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode % 2 == 0 {
        let _ = node::fuzzing::envelope_bytes(&f.owner, rest, METHOD_GET_FOOTPRINT);
        return;
    }
    static COUNTER: AtomicU64 = AtomicU64::new(1);
    let mut nonce = [0u8; 16];
    nonce[..8].copy_from_slice(&COUNTER.fetch_add(1, Ordering::Relaxed).to_le_bytes());
    nonce[8..].copy_from_slice(&std::process::id().to_le_bytes().repeat(2));
    let (ctl, body) = rest.split_at(rest.len().min(4));
    let seal = Seal {
        key: f.caller.key(),
        caller: CALLER,
        audience: OWNER,
        method: METHOD_GET_FOOTPRINT,
        purpose: None,
        nonce,
        issued_at_ms: now_ms(),
    };
    let mut envelope = seal.envelope(body.to_vec());
    let mut changed = false;
    if let [which, lo, hi, x] = *ctl {
        let x = x | 1;
        let pos = usize::from(u16::from_le_bytes([lo, hi]));
        let target = match which % 4 {
            0 => Some(&mut envelope.header),
            1 => Some(&mut envelope.signature),
            2 => Some(&mut envelope.body),
            _ => None,
        };
        if let Some(bytes) = target
            && !bytes.is_empty()
        {
            let i = pos % bytes.len();
            bytes[i] ^= x;
            changed = true;
        }
    }
    let result = node::fuzzing::envelope(&f.owner, &envelope, METHOD_GET_FOOTPRINT);
    assert_eq!(
        result.is_ok(),
        !changed,
        "changed={changed}: {result:?}"
    );
});
