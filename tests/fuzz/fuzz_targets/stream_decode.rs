//! Fuzz target `stream_decode`: see `rocketlog_fuzz::stream_decode` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rocketlog_fuzz::stream_decode(data));
