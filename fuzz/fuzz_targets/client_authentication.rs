//! Client authentication: an Authorization header line, then a form body.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| sigil_api::fuzzing::client_authentication(data));
