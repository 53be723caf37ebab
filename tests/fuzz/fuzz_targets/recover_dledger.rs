//! Fuzz target `recover_dledger`: see `rocketlog_fuzz::recover_dledger` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rocketlog_fuzz::recover_dledger(data));
