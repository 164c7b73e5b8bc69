//! PACT JSON (node/model/src/pact/validate.rs): document parsing (one footprint, an array, a
//! `{"data": …}` envelope or JSON lines), schema and rule validation, and the owner
//! signature extension (`node::fuzzing::pact_json`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| node::fuzzing::pact_json(data));
