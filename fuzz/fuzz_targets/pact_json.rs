//! PACT JSON (node/src/pact/validate.rs): document parsing (one footprint, an array, a
//! `{"data": …}` envelope or JSON lines), schema and rule validation, and the owner
//! signature extension.
#![no_main]

use libfuzzer_sys::fuzz_target;
use node::pact::ValidationContext;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(docs) = node::pact::parse_document(text) {
        for doc in docs {
            let findings = node::pact::validate(&doc, &ValidationContext::default());
            for f in &findings {
                // Every finding renders (path and message).
                let _ = f.to_string();
            }
            let _ = node::signed::verify_document(&doc);
        }
    }
});
