//! PACT `POST /3/events` bodies (node/pact-api): CloudEvents structured-mode parsing and
//! the checks of every event type.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = node::fuzzing::cloud_event(data);
});
