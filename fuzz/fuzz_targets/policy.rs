//! ODRL policy parsing (node/model/src/policy/parse.rs): any text either parses or is refused with
//! an error; it never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = node::fuzzing::policy(text);
    }
});
