//! Fuzz target `plugin_session`: see `rocketlog_fuzz::plugin_session` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rocketlog_fuzz::plugin_session(data));
