//! The sandboxed plugin: one streaming decoder ([`session`]) behind two faces,
//! a C-ABI core module (`abi`, feature `plugin`, wasm32-unknown-unknown, no
//! imports) and a WebAssembly component (`crate::component`, feature
//! `component`, wasm32-wasip2). See `docs/plugin.md`.
//!
//! * [`session`]: files in base-offset order, fed chunk by chunk, walked with
//!   the roll rules; records go to a [`session::Sink`].
//! * [`error`]: what can go wrong, and where (file, absolute offset).
//! * [`jsonl`]: the `rocketlog dump --format jsonl` lines, plus the error and
//!   summary objects of the C ABI.
//!
//! Nothing here may panic on any input: a panic in a `panic = "abort"` wasm
//! build is a trap. Arithmetic on input-derived values is checked, slices are
//! taken with `get`, and allocations grow only with bytes actually received.

pub mod error;
pub mod jsonl;
pub mod session;

#[cfg(all(feature = "plugin", target_family = "wasm"))]
mod abi;
