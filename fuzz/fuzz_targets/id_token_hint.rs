//! The id_token_hint of RP-initiated logout: JWS parsing and verification.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| sigil_api::fuzzing::id_token_hint(data));
