//! Fuzz target `scan_store`: see `rocketlog_fuzz::scan_store` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rocketlog_fuzz::scan_store(data));
