//! Fuzz target `decode_small`: see `rocketlog_fuzz::decode_small` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rocketlog_fuzz::decode_small(data));
