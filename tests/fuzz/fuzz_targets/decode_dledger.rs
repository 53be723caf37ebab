//! Fuzz target `decode_dledger`: see `rocketlog_fuzz::decode_dledger` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rocketlog_fuzz::decode_dledger(data));
