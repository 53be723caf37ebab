//! Fuzz target `recover_engine`: see `rocketlog_fuzz::recover_engine` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rocketlog_fuzz::recover_engine(data));
