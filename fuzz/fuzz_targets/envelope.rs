//! Signed envelopes (node/grpc/src/auth.rs): decode and verify against a live node.
//!
//! The first byte picks the mode (see `node::fuzzing::EnvelopeFixture::case`). Even: the rest
//! is decoded as an envelope and checked (it must never panic). Odd: a valid envelope is sealed
//! by a known partner over the fuzzed body, then up to one byte of its header, signature or
//! body is changed as the next bytes say; an unchanged envelope must authenticate and a
//! changed one must not.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use node::fuzzing::EnvelopeFixture;

fuzz_target!(|data: &[u8]| {
    static FIXTURE: OnceLock<EnvelopeFixture> = OnceLock::new();
    let fixture = FIXTURE.get_or_init(|| EnvelopeFixture::new().expect("fixture"));
    if let Err(e) = fixture.case(data) {
        panic!("{e}");
    }
});
