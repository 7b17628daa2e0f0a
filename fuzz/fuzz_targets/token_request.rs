//! The token request: form body, client credentials and grant type.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| sigil_api::fuzzing::token_request(data));
