//! Fuzz harnesses for `rocketlog-core`, the `rocketlog append` CLI and the
//! `rocketlog-wasm` plugin session.
//!
//! Each public function takes the fuzzer's bytes, drives one family of core
//! APIs with them and panics (via `assert!`) when an invariant breaks. The
//! cargo-fuzz targets in `fuzz_targets/` call these functions, and so does
//! `tests/tests/fuzz_regressions.rs` (it includes this file with `#[path]`),
//! which replays every committed crasher under `tests/fuzz-crashers/<target>/`
//! in the normal `cargo test`, without nightly.
//!
//! Structured inputs (stores, chunk plans) are parsed by [`input`] with a
//! tiny hand-written cursor instead of `arbitrary`, so the regression test
//! needs no dependency beyond the crates under test.

#![forbid(unsafe_code)]

pub mod append;
pub mod codecs;
pub mod dledger_engine;
pub mod engine;
pub mod input;
pub mod plugin;
pub mod scan;
pub mod stream;

pub use append::append_jsonl;
pub use codecs::{decode_dledger, decode_message, decode_small};
pub use dledger_engine::recover_dledger;
pub use engine::recover_engine;
pub use plugin::plugin_session;
pub use scan::scan_store;
pub use stream::stream_decode;

/// A harness: panics when an invariant breaks.
pub type Harness = fn(&[u8]);

/// Every target by name, for replaying crashers.
pub const TARGETS: &[(&str, Harness)] = &[
    ("decode_message", decode_message),
    ("decode_dledger", decode_dledger),
    ("decode_small", decode_small),
    ("scan_store", scan_store),
    ("stream_decode", stream_decode),
    ("recover_engine", recover_engine),
    ("recover_dledger", recover_dledger),
    ("append_jsonl", append_jsonl),
    ("plugin_session", plugin_session),
];
