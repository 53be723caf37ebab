//! `rocketlog-core`: the on-disk formats of Apache RocketMQ (CommitLog,
//! ConsumeQueue, IndexFile, checkpoint) and of DLedger (data and index logs,
//! checkpoint, currterm), byte for byte, with no I/O, no clock and no threads.
//!
//! Storage comes in through [`store::PageRead`] / [`store::PageStore`]; time
//! comes in as `now_ms` arguments.
//!
//! * [`codec`]: record codecs (borrowed views, caller-owned output buffers).
//! * [`layout`]: index math, file names and roll rules.
//! * [`scan`]: store readers that end where the Java reference ends.
//! * [`json`]: the `dump --format jsonl` schema, shared by every host.

#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

pub mod be;
pub mod checked;
pub mod codec;
pub mod crc;
pub mod engine;
pub mod error;
pub mod java;
pub mod json;
pub mod layout;
pub mod mem;
pub mod scan;
pub mod store;
pub mod stream;
pub mod topic;

pub use error::{DecodeError, DecodeErrorKind, EncodeError};
pub use store::{LogId, MetaFile, PageRead, PageStore, SegmentId, StoreError, StoreErrorKind};
