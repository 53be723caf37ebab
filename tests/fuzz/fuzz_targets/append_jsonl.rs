//! Fuzz target `append_jsonl`: see `rocketlog_fuzz::append_jsonl` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rocketlog_fuzz::append_jsonl(data));
