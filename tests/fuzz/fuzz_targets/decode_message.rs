//! Fuzz target `decode_message`: see `rocketlog_fuzz::decode_message` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rocketlog_fuzz::decode_message(data));
