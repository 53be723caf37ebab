//! `rocketlog`: the native host of `rocketlog-core`.
//!
//! * [`mmap`]: [`MmapStore`], a read-only memory-mapped [`rocketlog_core::PageRead`].
//! * [`resolve`]: from a user's PATH to a store kind and the places of its logs.
//! * [`walk`]: messages, entries, consume-queue units, key look-ups and
//!   verification over a resolved store (on `rocketlog_core::scan`).
//! * [`cli`] (feature `cli`): the `rocketlog` command line, callable as a function.

pub mod error;
pub mod mmap;
pub mod resolve;
pub mod walk;

pub use error::Error;
pub use mmap::{LogSource, MmapStore, StorePaths};
pub use resolve::{PathForm, Resolved, StoreKind, resolve};

#[cfg(feature = "cli")]
pub mod cli;

/// Whole-system benchmarks (`rocketlog bench`).
#[cfg(feature = "cli")]
pub mod bench;

// Writing half: read-write page store, flush and clean threads, embedding API.
pub mod cleaner;
pub mod embed;
pub mod flusher;
pub mod store;
