//! The authorization request (GET query or POST form), parsed and checked against
//! registered applications.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| sigil_api::fuzzing::authorization_request(data));
